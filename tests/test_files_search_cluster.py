"""Search and attachments on real processes: two daphne nodes, one Redis, SQLite and PostgreSQL.

What a user finds, and which files they may fetch, follows who may read the room, on whichever node
they ask: a member finds and fetches, an outsider and a removed member get nothing (404).
"""

import io
import json
import re
import socket
import textwrap
import time

import httpx
import pytest
from PIL import Image

from chat.testing.cluster import (
    DATABASES,
    Cluster,
    cluster_on,
    connect,
    new_user,
)

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"files-search-{request.param}")
    with cluster_on(request.param, workdir, CHAT_UPLOAD_ROOT=str(workdir / "uploads")) as cluster:
        yield cluster


def membership(cluster: Cluster, room: str, username: str, *, add: bool) -> None:
    verb = "room_member_add" if add else "room_member_remove"
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.{verb}(room_slug={room!r}, actor=None, username={username!r}, as_admin=True); print('ok')"
    )


def search(http, q: str, **params) -> list[tuple[str, str]]:
    answer = http.client.get("/api/search", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    return [(r["room"], r["body"]) for r in answer.json()["results"]]


async def test_search_on_either_node_finds_only_what_the_user_may_read(cluster):
    owner, http_owner = new_user(cluster, node=0)
    member, http_member = new_user(cluster, node=1)
    _, http_outsider = new_user(cluster, node=1)
    public = http_owner.create_room("Search public")
    private = http_owner.create_room("Search private", private=True)
    membership(cluster, private, member, add=True)
    ws = await connect(cluster, http_owner, 0)
    await ws.send_message(public, "The zebra report is ready", "s1")
    await ws.send_message(public, "얼룩말 회의를 시작합니다", "s2")
    await ws.send_message(private, "The zebra merger is secret", "s3")
    await ws.send_message(private, "얼룩말 비밀 회의", "s4")

    both = {(public, "The zebra report is ready"), (private, "The zebra merger is secret")}
    assert set(search(http_owner, "zebra")) == both
    assert set(search(http_member, "zebra")) == both  # through node 2
    assert {r for r, _ in search(http_member, "얼룩말")} == {public, private}
    assert search(http_outsider, "zebra") == [(public, "The zebra report is ready")]
    assert search(http_outsider, "얼룩말") == [(public, "얼룩말 회의를 시작합니다")]
    assert search(http_outsider, "merger") == [] and search(http_outsider, "비밀") == []

    membership(cluster, private, member, add=False)
    assert search(http_member, "zebra") == [(public, "The zebra report is ready")]
    assert search(http_member, "비밀") == []
    assert http_member.client.get("/api/search", params={"q": "zebra"}).json()["results"][0]["room"] == public

    # The search frame, on node 2, says the same, and refuses a huge query with the documented code.
    ws_outsider = await connect(cluster, http_outsider, 1)
    await ws_outsider.send({"type": "search", "query": "zebra", "ref": "q1"})
    answer = await ws_outsider.recv_type("search.results")
    assert [r["room"] for r in answer["results"]] == [public] and answer["ref"] == "q1"
    assert "<mark>zebra</mark>" in answer["results"][0]["highlight"]
    for query in ['"', "NEAR(", "*", "a\x00b", "x" * 10_000]:
        await ws_outsider.send({"type": "search", "query": query})
        frame = await ws_outsider.recv()
        assert frame["type"] == "search.results" or frame["code"] == "invalid_query", frame
    for ws_ in (ws, ws_outsider):
        await ws_.close()


async def test_an_edit_reindexes_and_a_deletion_removes_on_both_nodes(cluster):
    _, http_a = new_user(cluster, node=0)
    room = http_a.create_room("Search edits")
    ws = await connect(cluster, http_a, 0)
    ack = await ws.send_message(room, "platypus sighting 오리너구리", "e1")
    assert search(http_a, "platypus", room=room) != []
    await ws.send({"type": "message.edit", "room": room, "id": ack["id"], "body": "echidna 가시두더지"})
    await ws.recv_type("done")
    assert search(http_a, "platypus", room=room) == [] and search(http_a, "오리너구리", room=room) == []
    assert search(http_a, "echidna", room=room) == [(room, "echidna 가시두더지")]
    assert search(http_a, "가시두더지", room=room) == [(room, "echidna 가시두더지")]
    await ws.send({"type": "message.delete", "room": room, "id": ack["id"]})
    await ws.recv_type("done")
    assert search(http_a, "echidna", room=room) == [] and search(http_a, "가시두더지", room=room) == []
    await ws.close()
    assert json.loads(json.dumps(search(http_a, "echidna"))) == []


async def test_a_phrase_finds_the_same_pages_whichever_way_it_is_read(cluster):
    """PostgreSQL reads a phrase's page from the newest messages, further back by date, or through
    the planner's plan (chat/domain/search.py); each, forced in turn, must give every page of
    exactly what a member, a removed member and an outsider may read (no deleted message), in
    order, also where a window ends among messages of one timestamp. tests/search_paths.py runs
    in the nodes' database; on SQLite it checks the one plan there is."""
    result = json.loads(
        cluster.django("import json; from tests.search_paths import check; print(json.dumps(check()))")
    )
    assert result["wrong"] == []
    if result["vendor"] == "postgresql":
        assert result["ran"] == ["all", "read_back", "recent", "window"]


def csrf_upload(http, name: str, data: bytes) -> httpx.Response:
    """Upload as the web UI does: the session cookie and the CSRF token in X-CSRFToken."""
    page = http.client.get("/")
    token = (
        http.client.cookies.get("csrftoken")
        or re.search(r'csrfmiddlewaretoken" value="([^"]+)', page.text)[1]
    )
    return http.client.post("/api/uploads/", files={"file": (name, data)}, headers={"X-CSRFToken": token})


def stored_files(cluster: Cluster) -> list[str]:
    root = cluster.workdir / "uploads"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_file_uploaded_on_node_1_is_served_by_node_2_to_members_only(cluster):
    owner, http_owner = new_user(cluster, node=0)
    member, http_member = new_user(cluster, node=1)
    _, http_outsider = new_user(cluster, node=1)
    private = http_owner.create_room("Files private", private=True)
    membership(cluster, private, member, add=True)
    image = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(image, format="PNG")
    answer = csrf_upload(http_owner, "diagram.png", image.getvalue())
    assert answer.status_code == 201, answer.text
    data = answer.json()
    ws = await connect(cluster, http_owner, 0)
    ws_member = await connect(cluster, http_member, 1)
    await ws_member.subscribe(private)
    await ws.send(
        {
            "type": "message.send",
            "room": private,
            "body": "",
            "client_msg_id": "f1",
            "attachments": [data["id"]],
        }
    )
    await ws.recv_type("message.ack")
    live = await ws_member.recv_type("message")
    assert [a["id"] for a in live["attachments"]] == [data["id"]]
    node2 = cluster.nodes[1].http_url
    got = http_member.client.get(node2 + data["url"])
    assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
    assert (
        got.headers["x-content-type-options"] == "nosniff"
        and "sandbox" in got.headers["content-security-policy"]
    )
    for http in (http_outsider, None):
        client = http.client if http else httpx.Client(timeout=10)
        for url in (data["url"], data["thumbnail_url"], f"/files/{data['id']}/guess.png"):
            assert client.get(node2 + url).status_code == 404
    membership(cluster, private, member, add=False)
    assert http_member.client.get(node2 + data["url"]).status_code == 404
    assert http_member.client.get(node2 + data["thumbnail_url"]).status_code == 404
    for client in (ws, ws_member):
        await client.close()


async def test_an_upload_one_byte_over_the_limit_is_refused_and_nothing_is_stored(cluster):
    name, http = new_user(cluster, node=1)
    before = stored_files(cluster)
    answer = csrf_upload(http, "big.txt", b"a" * (25 * 1024 * 1024 + 1))
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    assert "26214400" in answer.json()["detail"]  # the limit, in the answer
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    answer = csrf_upload(http, "kitten.png", svg)
    assert answer.status_code == 415 and answer.json()["code"] == "unsupported_type"
    assert stored_files(cluster) == before
    rows = cluster.django(
        f"from chat.models import Attachment; print(Attachment.objects.filter(uploader__username={name!r}).count())"
    )
    assert rows == "0"


def raw_request(port: int, head: bytes, body_chunks=(), timeout: float = 10) -> bytes:
    """Send a request's head and then its body chunks on a bare socket; the answer, read up to its
    Content-Length (it may come before the body is sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while (data := sock.recv(65536)) and not _complete(answer := answer + data):
            pass
    return answer


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    return bool(found and length and len(body) >= int(length[1]))


def upload_head(cluster: Cluster, http, framing: bytes) -> bytes:
    """An upload's request head with the user's session cookie and CSRF token."""
    http.client.get(cluster.nodes[1].http_url + "/")
    cookies = "; ".join(f"{k}={v}" for k, v in http.client.cookies.items())
    return (
        b"POST /api/uploads/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + cookies.encode()
        + b"\r\nX-CSRFToken: " + http.client.cookies["csrftoken"].encode()
        + b"\r\nContent-Type: multipart/form-data; boundary=b\r\n" + framing + b"\r\n"
    )  # fmt: skip


async def test_a_body_over_the_limit_is_refused_before_it_is_sent(cluster):
    """The node answers 413 from the Content-Length alone: the client has sent none of the body
    (before, the node waited for all of it, then the application refused it)."""
    _, http = new_user(cluster, node=1)
    before = stored_files(cluster)
    too_long = 25 * 1024 * 1024 + 64 * 1024 + 1
    head = upload_head(cluster, http, b"Content-Length: %d\r\n" % too_long)
    started = time.monotonic()
    answer = raw_request(cluster.nodes[1].port, head)
    assert time.monotonic() - started < 5  # not the 30 s body deadline
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and json.loads(body)["code"] == "too_large", answer[:300]
    assert stored_files(cluster) == before


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(cluster):
    _, http = new_user(cluster, node=1)
    before = stored_files(cluster)
    head = upload_head(cluster, http, b"Transfer-Encoding: chunked\r\n")
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b"a" * 1024 * 1024)
    answer = raw_request(cluster.nodes[1].port, head, [chunk] * 27 + [b"0\r\n\r\n"])
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and json.loads(body)["code"] == "too_large", answer[:300]
    assert stored_files(cluster) == before


async def test_the_search_rate_counts_every_node_and_transport_of_a_user_and_no_one_else(cluster):
    """CHAT_SEARCH_RATE_LIMIT (30 a minute) for one user, over sockets and HTTP on both nodes; the
    refusal is `rate_limited` with `retry_after` (HTTP 429 and Retry-After), and other users search on."""
    _, http_busy = new_user(cluster, node=0)
    _, http_other = new_user(cluster, node=1)
    ws0, ws1 = await connect(cluster, http_busy, 0), await connect(cluster, http_busy, 1)
    # The same login on node 2 over HTTP (session cookies are valid on every node).
    http_busy_1 = httpx.Client(
        base_url=cluster.nodes[1].http_url, cookies={"sessionid": http_busy.session_cookie}
    )
    for i in range(30):
        if i % 3 == 2:
            client = http_busy.client if i % 2 else http_busy_1
            assert client.get("/api/search", params={"q": "x"}).status_code == 200
        else:
            ws = ws0 if i % 2 else ws1
            await ws.send({"type": "search", "query": f"q{i}", "ref": f"r{i}"})
            assert (await ws.recv_type("search.results"))["ref"] == f"r{i}"
    for ws in (ws0, ws1):
        await ws.send({"type": "search", "query": "one more", "ref": "late"})
        refused = await ws.recv_type("error")
        assert (refused["code"], refused["ref"]) == ("rate_limited", "late")
        assert 1 <= refused["retry_after"] <= 60
    answer = http_busy_1.get("/api/search", params={"q": "x"})
    assert answer.status_code == 429 and answer.json()["code"] == "rate_limited"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert http_other.client.get("/api/search", params={"q": "x"}).status_code == 200
    http_busy_1.close()
    for ws in (ws0, ws1):
        await ws.close()


async def test_a_search_past_its_time_bound_is_refused_as_search_timeout_on_either_database(cluster):
    """CHAT_SEARCH_TIMEOUT_MS bounds a search's statements on both databases (statement_timeout on
    PostgreSQL, a progress handler on SQLite): past it, SearchTimedOut (`search_timeout`, HTTP 503),
    not a server error; the same connection then searches on. Slow searches of 30,000 messages: on
    SQLite a two-letter Korean word none has (a scan), on PostgreSQL a phrase of their words in an
    order none has (every match of the words read back)."""
    result = cluster.django(
        textwrap.dedent(
            """
            from django.contrib.auth import get_user_model
            from django.db import connection
            from django.test.utils import override_settings
            from chat.domain import rooms, selectors
            from chat.domain.errors import SearchTimedOut

            user = get_user_model().objects.create_user("timeout-searcher", password="x")
            room = rooms.room_create(creator=user, title="Timeout")
            pg = connection.vendor == "postgresql"
            series = (
                "generate_series(1, 30000) AS t(n)" if pg else
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 30000) SELECT n FROM s) t"
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO chat_message (room_id, seq, author_id, body, body_html, client_msg_id, created_at, "
                    "reply_count) SELECT %s, n + 100, %s, 'see you tomorrow at the review ' || n, '', 'to' || n, "
                    f"CURRENT_TIMESTAMP, 0 FROM {series}",
                    [room.pk, user.pk],
                )
            slow = '"review tomorrow"' if pg else "회의"
            with override_settings(CHAT_SEARCH_TIMEOUT_MS=1):
                try:
                    selectors.messages_search(user=user, query=slow)
                    timed_out = "answered"
                except SearchTimedOut as error:
                    timed_out = error.code
            after = selectors.messages_search(user=user, query='"tomorrow at the review"').results
            print(timed_out, len(after))
            """
        )
    )
    assert result == "search_timeout 20", result
