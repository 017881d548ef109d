"""Profiles on real processes: two daphne nodes, one Redis, SQLite and PostgreSQL.

A profile saved through one node reaches, as `user.updated`, the connections on the other node that
fetched that user (and no other), its avatar is served by either node to signed-in users only, and
malformed or hostile requests get their documented answer on both nodes.
"""

import io
import re

import httpx
import pytest
from PIL import Image

from chat.testing.cluster import DATABASES, Cluster, cluster_on, connect, new_user

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"profiles-{request.param}")
    with cluster_on(request.param, workdir, CHAT_UPLOAD_ROOT=str(workdir / "uploads")) as cluster:
        yield cluster


def save_profile(http, *, avatar: bytes | None = None, **fields) -> httpx.Response:
    """Post the profile page's form as a browser does (its CSRF token, multipart)."""
    page = http.client.get("/accounts/profile/")
    token = CSRF_RE.search(page.text).group(1)
    data = {"display_name": "", "status_text": "", "time_zone": "", **fields, "csrfmiddlewaretoken": token}
    files = {"avatar": ("me.jpg", avatar, "image/jpeg")} if avatar is not None else None
    return http.client.post("/accounts/profile/", data=data, files=files)


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 90)).save(out, format="JPEG")
    return out.getvalue()


async def test_a_profile_saved_on_node_1_reaches_watchers_on_node_2_only(cluster: Cluster):
    alice, http_alice = new_user(cluster, node=0)
    _, http_bob = new_user(cluster, node=1)
    _, http_carol = new_user(cluster, node=1)
    bob = await connect(cluster, http_bob, 1)
    carol = await connect(cluster, http_carol, 1)
    alice_phone = await connect(cluster, http_alice, 1)  # alice's own other device, on node 2
    await bob.send({"type": "users.fetch", "users": [alice, "nobody"], "ref": "f1"})
    answer = await bob.recv_type("users")
    assert [(u["username"], u["display_name"], u["avatar_url"]) for u in answer["users"]] == [
        (alice, alice, None)
    ]
    await alice_phone.send({"type": "users.fetch", "users": [alice]})
    await alice_phone.recv_type("users")

    saved = save_profile(
        http_alice,
        avatar=jpeg(640, 480),
        display_name="앨리스 Kim",
        status_text="회의 중",
        time_zone="Asia/Seoul",
    )
    assert saved.status_code == 302, saved.text[:500]
    for sock in (bob, alice_phone):  # one save, one frame, with every change
        user = (await sock.recv_type("user.updated"))["user"]
        assert (user["username"], user["display_name"], user["status"], user["time_zone"]) == (
            alice,
            "앨리스 Kim",
            "회의 중",
            "Asia/Seoul",
        )
        assert re.fullmatch(r"/avatars/[A-Za-z0-9_-]{24}/256\.webp", user["avatar_url"])
        assert user["initials"] == "앨K"
    # carol never fetched alice: nothing for her before the marker.
    await carol.send({"type": "ping"})
    assert (await carol.recv())["type"] == "pong"

    # The avatar, uploaded through node 1, is served by node 2, cacheable, to signed-in users only.
    node2 = cluster.nodes[1].http_url
    served = http_bob.client.get(node2 + user["avatar_url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(served.content)).size == (256, 256)
    assert (
        "immutable" in served.headers["cache-control"]
        and served.headers["x-content-type-options"] == "nosniff"
    )
    small = http_bob.client.get(node2 + user["avatar_small_url"])
    assert Image.open(io.BytesIO(small.content)).size == (64, 64)
    assert httpx.get(node2 + user["avatar_url"]).status_code == 404  # logged out
    # Fetching again on node 2 answers the new profile.
    await bob.send({"type": "users.fetch", "users": [alice]})
    assert (await bob.recv_type("users"))["users"] == [user]

    # Deactivated: absent from answers, its avatar no longer served, on either node.
    cluster.django(
        "from django.contrib.auth import get_user_model; "
        f"u = get_user_model().objects.get(username={alice!r}); u.is_active = False; u.save(); print('ok')"
    )
    await bob.send({"type": "users.fetch", "users": [alice]})
    assert (await bob.recv_type("users"))["users"] == []
    assert http_bob.client.get(cluster.nodes[0].http_url + user["avatar_url"]).status_code == 404
    for sock in (bob, carol, alice_phone):
        await sock.close()


async def test_malformed_and_hostile_requests_get_their_answer_on_both_nodes(cluster: Cluster):
    mallory, http_mallory = new_user(cluster, node=0)
    victim, http_victim = new_user(cluster, node=1)
    for node in (0, 1):
        ws = await connect(cluster, http_mallory, node)
        for frame in [
            {"type": "users.fetch"},
            {"type": "users.fetch", "users": {"a": 1}},
            {"type": "users.fetch", "users": ["x"] * 101},
            {"type": "users.fetch", "users": ["\ud800"]},
            {"type": "users.fetch", "users": [victim, 7]},
            {"type": "user.updated", "user": {"username": victim, "display_name": "pwned"}},
        ]:
            await ws.send(frame)
            error = await ws.recv_type("error")
            assert error["code"] in ("invalid_field", "unknown_type"), (frame, error)
        await ws.close()
        base = cluster.nodes[node].http_url
        # Another user's profile cannot be edited: the form names no user, extra fields are ignored.
        answer = save_profile(http_mallory, display_name="Mallory", user=victim, username=victim)
        assert answer.status_code == 302
        # Unauthenticated: the page redirects to log in, a POST without CSRF is refused.
        assert httpx.get(base + "/accounts/profile/").status_code == 302
        assert httpx.post(base + "/accounts/profile/", data={"display_name": "x"}).status_code in (302, 403)
        # Not an image, and huge dimensions: 415 with a readable error, nothing stored.
        for bad in (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            b"GIF89a" + b"\xff" * 20,
        ):
            refused = save_profile(http_mallory, avatar=bad, display_name="Evil")
            assert refused.status_code == 415 and "PNG, JPEG, GIF or WebP" in refused.text
    ws = await connect(cluster, http_victim, 1)
    await ws.send({"type": "users.fetch", "users": [victim, mallory]})
    users = {u["username"]: u for u in (await ws.recv_type("users"))["users"]}
    assert users[victim]["display_name"] == victim and users[mallory]["display_name"] == "Mallory"
    await ws.close()
