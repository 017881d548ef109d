"""Direct messages and room membership on real processes: two daphne nodes, one Redis, SQLite and
PostgreSQL.

A DM opened on one node reaches its other member on the other node (listed, subscribed, notified);
opening the same set of people from both nodes at once gives one conversation; an outsider learns
nothing of it through /ws/, SockJS, the pages, history, threads, search or the member list; a member
removed on one node loses the subscription live on the other.
"""

import asyncio

import pytest

from chat.testing.cluster import DATABASES, cluster_on, connect, new_user
from tests.sockjs_client import SockJSClient

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    with cluster_on(request.param, tmp_path_factory.mktemp(f"dms-{request.param}")) as cluster:
        yield cluster


async def answer(client, ref: str) -> dict:
    """The answer (or error) to the frame sent with this ref."""
    while True:
        frame = await client.recv(10)
        if frame.get("ref") == ref and frame["type"] != "notification":
            return frame


async def frames_until_pong(client) -> list[dict]:
    """Every frame before the answer to a ping sent now (a marker: see tests/waiting.py)."""
    await client.send({"type": "ping"})
    frames = []
    while (frame := await client.recv(10))["type"] != "pong":
        frames.append(frame)
    return frames


async def open_dm(client, users: list[str], ref: str = "open") -> dict:
    await client.send({"type": "dm.open", "users": users, "ref": ref})
    opened = await answer(client, ref)
    assert opened["type"] == "dm.opened", opened
    return opened


async def test_a_dm_between_users_on_two_nodes(cluster):
    alice_name, http_alice = new_user(cluster, node=0)
    bob_name, http_bob = new_user(cluster, node=1)
    alice, bob = await connect(cluster, http_alice, 0), await connect(cluster, http_bob, 1)

    opened = await open_dm(alice, [bob_name])
    slug, info = opened["room"], opened["info"]
    assert slug.startswith("dm-") and len(slug) == 23 and bob_name not in slug
    assert (info["kind"], info["title"], info["members"], info["role"]) == (
        "dm",
        bob_name,
        sorted([alice_name, bob_name]),
        "member",
    )
    created = await bob.recv_type("room.created", 10)  # listed live on the other node, for bob
    assert (created["room"]["slug"], created["room"]["title"]) == (slug, alice_name)

    await alice.subscribe(slug)
    await bob.subscribe(slug)
    ack = await alice.send_message(slug, "hello bob", "dm-1")
    got = await bob.recv_type("message", 10)
    assert (got["author"], got["body"], got["seq"]) == (alice_name, "hello bob", ack["seq"])
    notified = await bob.recv_type("notification", 10)  # every DM message notifies like a mention
    assert (notified["kind"], notified["room"], notified["from"]) == ("dm", slug, alice_name)

    again = await open_dm(bob, [alice_name], ref="again")  # the same pair: the same conversation
    assert again["room"] == slug and again["info"]["title"] == alice_name
    await bob.send({"type": "rooms.list"})
    [listed] = [room for room in (await bob.recv_type("rooms"))["rooms"] if room["slug"] == slug]
    assert listed["title"] == alice_name
    for path in (f"/dm/{slug}/", f"/rooms/{slug}/"):
        assert http_bob.client.get(path).status_code == 200
    await alice.close()
    await bob.close()


async def test_both_nodes_opening_a_new_conversation_at_once_get_one_room(cluster):
    names, clients = [], []
    for node in (0, 1, 0):
        name, http = new_user(cluster, node=node)
        names.append(name)
        clients.append(await connect(cluster, http, node))
    a, b, c = clients
    # The same set, from two nodes at the same moment, a group of three.
    first, second = await asyncio.gather(
        open_dm(a, [names[1], names[2]], ref="x"), open_dm(b, [names[2], names[0]], ref="y")
    )
    assert first["room"] == second["room"]
    count = cluster.django(
        "from chat.models import Room; "
        f"print(Room.objects.filter(kind='dm', memberships__user__username={names[0]!r})"
        f".filter(memberships__user__username={names[1]!r}).distinct().count())"
    )
    assert count == "1"
    third = await open_dm(c, [names[0], names[1]], ref="z")
    assert third["room"] == first["room"] and third["info"]["title"] == ", ".join(sorted(names[:2]))
    for client in clients:
        await client.close()


async def test_an_outsider_reads_nothing_of_a_dm_through_any_surface(cluster):
    alice_name, http_alice = new_user(cluster, node=0)
    bob_name, http_bob = new_user(cluster, node=1)
    eve_name, http_eve = new_user(cluster, node=1)
    eve = await connect(cluster, http_eve, 1)  # connected before the DM exists, on bob's node
    alice, bob = await connect(cluster, http_alice, 0), await connect(cluster, http_bob, 1)
    slug = (await open_dm(alice, [bob_name]))["room"]
    await bob.subscribe(slug)
    await alice.subscribe(slug)
    ack = await alice.send_message(slug, "secretword quietly", "dm-secret")
    await bob.recv_type("message", 10)
    await alice.send_message(slug, "비밀회의 내일 열립니다", "dm-secret-ko")
    await bob.recv_type("message", 10)

    seen = await frames_until_pong(eve)  # nothing was announced to her
    assert all(slug not in str(frame) for frame in seen), seen
    refusals = {
        "subscribe": ({"type": "subscribe", "room": slug}, "unknown_room"),
        "history": ({"type": "history.fetch", "room": slug}, "unknown_room"),
        "thread": ({"type": "thread.fetch", "room": slug, "id": ack["id"]}, "unknown_room"),
        "send": ({"type": "message.send", "room": slug, "body": "hi", "client_msg_id": "e1"}, "unknown_room"),
        "react": ({"type": "reaction.add", "room": slug, "id": ack["id"], "emoji": "👀"}, "unknown_room"),
        "members": ({"type": "room.members", "room": slug}, "not_found"),
        "leave": ({"type": "room.leave", "room": slug}, "not_found"),
        "add": ({"type": "room.member.add", "room": slug, "user": eve_name}, "not_found"),
    }
    for ref, (frame, code) in refusals.items():
        await eve.send({**frame, "ref": ref})
        got = await answer(eve, ref)
        assert (got["type"], got["code"]) == ("error", code), (ref, got)
    for query in ("secretword", "비밀회의", "비밀"):
        await eve.send({"type": "search", "query": query, "ref": "search"})
        assert (await answer(eve, "search"))["results"] == [], query
        await eve.send({"type": "search", "query": query, "room": slug, "ref": "search-room"})
        assert (await answer(eve, "search-room"))["results"] == [], query
    await eve.send({"type": "rooms.list"})
    assert slug not in str(await eve.recv_type("rooms"))

    # SockJS, on the other node
    sockjs = await SockJSClient([cluster.nodes[0].http_url], http_eve.session_cookie).open()
    for ref, frame in (
        ("s1", {"type": "subscribe", "room": slug}),
        ("s2", {"type": "history.fetch", "room": slug}),
    ):
        await sockjs.send({**frame, "ref": ref})
        got = await answer(sockjs, ref)
        assert (got["type"], got["code"]) == ("error", "unknown_room")
    await sockjs.close()

    # HTTP pages and the search API, on both nodes
    for node in cluster.nodes:
        http_eve.client.base_url = node.http_url
        for path in (f"/dm/{slug}/", f"/rooms/{slug}/"):
            assert http_eve.client.get(path).status_code == 404
        for query in ("secretword", "비밀회의", "비밀"):
            found = http_eve.client.get("/api/search", params={"q": query}).json()
            assert found["results"] == [], query
        assert slug not in http_eve.client.get("/").text
    # the member finds both, in English and in Korean (so the outsider's empty answers were not
    # empty for every searcher)
    for query in ("secretword", "비밀회의", "비밀"):
        assert http_bob.client.get("/api/search", params={"q": query}).json()["results"], query

    # eve's socket saw nothing of the conversation meanwhile either
    assert all("secretword" not in str(frame) for frame in await frames_until_pong(eve))
    for client in (eve, alice, bob):
        await client.close()


async def test_a_removed_member_loses_the_subscription_live_on_the_other_node(cluster):
    owner_name, http_owner = new_user(cluster, node=0)
    bob_name, http_bob = new_user(cluster, node=1)
    room = http_owner.create_room("Members only", private=True)
    owner, bob = await connect(cluster, http_owner, 0), await connect(cluster, http_bob, 1)
    await owner.subscribe(room)
    await owner.send({"type": "room.member.add", "room": room, "user": bob_name, "ref": "add"})
    assert (await answer(owner, "add"))["type"] == "done"
    appeared = await bob.recv_type("room.updated", 10)  # the room appears in bob's list, live
    assert (appeared["room"]["slug"], appeared["room"]["role"]) == (room, "member")
    await bob.subscribe(room)
    await owner.send_message(room, "welcome", "w1")
    assert (await bob.recv_type("message", 10))["body"] == "welcome"

    await owner.send({"type": "room.member.remove", "room": room, "user": bob_name, "ref": "rm"})
    assert (await answer(owner, "rm"))["type"] == "done"
    unsubscribed = await bob.recv_type("unsubscribed", 10)
    assert (unsubscribed["room"], unsubscribed["reason"]) == (room, "forbidden")
    assert (await bob.recv_type("room.removed", 10))["room"] == room
    line = await owner.recv_type("message", 10)  # the owner sees the system line
    while line.get("kind") != "system" or line["system"]["event"] != "member.removed":
        line = await owner.recv_type("message", 10)
    assert line["system"] == {"event": "member.removed", "actor": owner_name, "target": bob_name}

    await owner.send_message(room, "after bob left", "w2")
    assert all("after bob left" not in str(frame) for frame in await frames_until_pong(bob))
    await bob.send({"type": "history.fetch", "room": room, "ref": "h"})
    assert (await answer(bob, "h"))["code"] == "unknown_room"
    await owner.close()
    await bob.close()


async def test_a_member_who_left_a_dm_is_back_when_it_is_opened_again(cluster):
    alice_name, http_alice = new_user(cluster, node=0)
    bob_name, http_bob = new_user(cluster, node=1)
    alice, bob = await connect(cluster, http_alice, 0), await connect(cluster, http_bob, 1)
    slug = (await open_dm(alice, [bob_name]))["room"]
    await bob.subscribe(slug)
    await bob.send({"type": "room.leave", "room": slug, "ref": "leave"})
    assert (await answer(bob, "leave"))["type"] == "done"
    assert (await bob.recv_type("room.removed", 10))["room"] == slug
    assert http_bob.client.get(f"/dm/{slug}/").status_code == 404
    await open_dm(alice, [bob_name], ref="reopen")
    back = await bob.recv_type("room.updated", 10)
    assert (back["room"]["slug"], back["room"]["title"]) == (slug, alice_name)
    assert http_bob.client.get(f"/dm/{slug}/").status_code == 200
    await alice.close()
    await bob.close()
