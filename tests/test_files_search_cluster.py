"""Search and attachments on real processes: two daphne nodes, one Redis, SQLite and PostgreSQL.

What a user finds, and which files they may fetch, follows who may read the room, on whichever node
they ask: a member finds and fetches, an outsider and a removed member get nothing (404).
"""

import io
import json
import re
import socket
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
    _, http = new_user(cluster, node=1)
    before = stored_files(cluster)
    answer = csrf_upload(http, "big.txt", b"a" * (25 * 1024 * 1024 + 1))
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    answer = csrf_upload(http, "kitten.png", svg)
    assert answer.status_code == 415 and answer.json()["code"] == "unsupported_type"
    assert stored_files(cluster) == before


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
