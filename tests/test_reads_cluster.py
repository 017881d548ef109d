"""Read positions on real processes: two daphne nodes, one Redis, SQLite and PostgreSQL.

A read on one node clears the count on the same user's connection on the other node within a
second; positions never move back; many reads within one flush interval are one row of one
statement; refused `read` frames get their documented error on either node; counts exclude one's
own messages and survive a new connection and a new login (a new browser).
"""

import time

import httpx
import pytest

from chat.testing.clients import HttpUser
from chat.testing.cluster import DATABASES, Cluster, cluster_on, connect, new_user

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

TOKEN = "reads-metrics-token"
PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    with cluster_on(
        request.param, tmp_path_factory.mktemp(f"reads-{request.param}"), METRICS_TOKEN=TOKEN
    ) as cluster:
        yield cluster


def metric(cluster: Cluster, node: int, name: str) -> float:
    text = httpx.get(
        f"{cluster.nodes[node].http_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    ).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def room_state(client, slug: str) -> dict:
    await client.send({"type": "rooms.list"})
    rooms = (await client.recv_type("rooms"))["rooms"]
    [room] = [r for r in rooms if r["slug"] == slug]
    return {key: room[key] for key in ("read_seq", "unread", "mentions", "last_seq")}


async def read_updated(client, slug: str, timeout: float = 5) -> dict:
    while True:
        frame = await client.recv_type("read.updated", timeout=timeout)
        if frame["room"] == slug:
            return frame


async def test_a_read_on_one_node_clears_the_count_on_the_other_node_within_a_second(cluster):
    _, alice_http = new_user(cluster)
    bob_name, bob_http = new_user(cluster)
    slug = alice_http.create_room("Read across nodes")
    alice = await connect(cluster, alice_http, 0)
    phone, laptop = await connect(cluster, bob_http, 0), await connect(cluster, bob_http, 1)
    first = await alice.send_message(slug, "first", "a1")
    await phone.send({"type": "read", "room": slug, "seq": first["seq"]})  # bob now follows the room
    await read_updated(laptop, slug)
    for i in range(3):
        await alice.send_message(slug, f"news {i}", f"a2-{i}")
    await alice.send_message(slug, f"hi @{bob_name}", "a3")
    await bob_http_send(cluster, bob_http, slug, "my own words")  # not unread for bob
    state = await room_state(laptop, slug)
    assert (state["read_seq"], state["unread"], state["mentions"]) == (first["seq"], 4, 1)
    started = time.monotonic()
    await phone.send({"type": "read", "room": slug, "seq": state["last_seq"]})
    frame = await read_updated(laptop, slug)
    elapsed = time.monotonic() - started
    assert (frame["seq"], frame["unread"], frame["mentions"]) == (state["last_seq"], 0, 0)
    assert frame["last_seq"] == state["last_seq"]
    assert elapsed < 1.0, f"read.updated took {elapsed:.2f} s"
    await phone.close(), await laptop.close(), await alice.close()


async def test_one_flush_of_many_users_reaches_each_users_connections_and_nobody_elses(cluster):
    """A node's flush announces every moved position in one publish (chat/realtime/userbatch.py):
    each user's connections on both nodes get their own `read.updated`, never another user's."""
    _, owner_http = new_user(cluster)
    slug = owner_http.create_room("One flush")
    owner = await connect(cluster, owner_http, 0)
    await owner.send_message(slug, "read me", "f1")
    last = await owner.send_message(slug, "and me", "f2")
    users = [new_user(cluster)[1] for _ in range(3)]
    sockets = [[await connect(cluster, http, 0), await connect(cluster, http, 1)] for http in users]
    outsider = await connect(cluster, new_user(cluster)[1], 1)
    for i, (reader, _) in enumerate(sockets):  # within one flush interval, on node 1
        await reader.send({"type": "read", "room": slug, "seq": last["seq"] - i % 2})
    for i, pair in enumerate(sockets):
        for sock in pair:
            frame = await sock.recv_type("read.updated")
            assert (frame["room"], frame["seq"]) == (slug, last["seq"] - i % 2)
    with pytest.raises(TimeoutError):  # nothing more for anyone: not another user's, not twice
        await outsider.recv_type("read.updated", timeout=1.5)
    for pair in sockets:
        for sock in pair:
            with pytest.raises(TimeoutError):
                await sock.recv_type("read.updated", timeout=0.2)
            await sock.close()
    await owner.close(), await outsider.close()


async def bob_http_send(cluster: Cluster, http: HttpUser, slug: str, body: str) -> None:
    client = await connect(cluster, http, 1)
    await client.send_message(slug, body, f"own-{time.monotonic_ns()}")
    await client.close()


async def test_a_position_never_moves_back(cluster):
    _, alice_http = new_user(cluster)
    _, bob_http = new_user(cluster)
    slug, marker = alice_http.create_room("Monotonic"), alice_http.create_room("Monotonic marker")
    alice = await connect(cluster, alice_http, 0)
    for i in range(3):
        last = await alice.send_message(slug, f"m{i}", f"m{i}")
    mark = await alice.send_message(marker, "marker", "mk")
    bob, other = await connect(cluster, bob_http, 0), await connect(cluster, bob_http, 1)
    await bob.send({"type": "read", "room": slug, "seq": last["seq"]})
    assert (await read_updated(other, slug))["seq"] == last["seq"]
    # A lower seq (an old tab) then a read of another room, flushed together or after it: the
    # marker's read.updated comes, the lower one's never does.
    await bob.send({"type": "read", "room": slug, "seq": 1})
    await bob.send({"type": "read", "room": marker, "seq": mark["seq"]})
    frame = await other.recv_type("read.updated")
    assert frame["room"] == marker
    assert (await room_state(other, slug))["read_seq"] == last["seq"]
    # A seq beyond the room's newest is stored as the newest.
    newest = await alice.send_message(slug, "m3", "m3")
    await bob.send({"type": "read", "room": slug, "seq": 10**15})
    frame = await read_updated(other, slug)
    assert frame["seq"] == frame["last_seq"] == newest["seq"]
    await bob.close(), await other.close(), await alice.close()


async def test_many_reads_within_a_flush_interval_are_one_row_of_one_statement(cluster):
    _, alice_http = new_user(cluster)
    _, bob_http = new_user(cluster)
    slug = alice_http.create_room("Coalesced")
    alice = await connect(cluster, alice_http, 1)
    for i in range(20):
        await alice.send_message(slug, f"m{i}", f"c{i}")
    bob, other = await connect(cluster, bob_http, 0), await connect(cluster, bob_http, 1)
    await bob.subscribe(slug)
    statements = metric(cluster, 0, "chat_read_flush_statements_total")
    rows = metric(cluster, 0, "chat_read_positions_written_total")
    started = time.monotonic()
    for seq in range(1, 21):  # a client scrolling through 20 messages, as fast as it can
        await bob.send({"type": "read", "room": slug, "seq": seq})
    sent_in = time.monotonic() - started
    frame = await read_updated(other, slug)
    assert frame["seq"] == 20 and frame["unread"] == 0
    assert sent_in < 0.1
    assert metric(cluster, 0, "chat_read_flush_statements_total") - statements == 1
    assert metric(cluster, 0, "chat_read_positions_written_total") - rows == 1
    await bob.close(), await other.close(), await alice.close()


@pytest.mark.parametrize("node", [0, 1])
async def test_refused_reads_get_their_documented_errors(cluster, node):
    _, alice_http = new_user(cluster)
    bob_name, bob_http = new_user(cluster)
    _, eve_http = new_user(cluster)
    secret = alice_http.create_room(f"Secret {node}", private=True)
    alice = await connect(cluster, alice_http, 0)
    await alice.send_message(secret, "classified", f"s{node}")
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_member_add(room_slug={secret!r}, actor=None, username={bob_name!r}, as_admin=True); print('ok')"
    )
    eve, bob = await connect(cluster, eve_http, node), await connect(cluster, bob_http, node)

    async def refused(client, frame: dict) -> str:
        await client.send(frame)
        return (await client.recv_type("error"))["code"]

    assert await refused(eve, {"type": "read", "room": secret, "seq": 1}) == "unknown_room"
    assert await refused(eve, {"type": "read", "room": "no-such-room", "seq": 1}) == "unknown_room"
    for bad in ({}, {"seq": 1}, {"room": secret}, {"room": secret, "seq": -1}, {"room": secret, "seq": "1"},
                {"room": secret, "seq": True}, {"room": secret, "seq": 1.5}, {"room": secret, "seq": 2**64},
                {"room": "../x", "seq": 1}, {"room": [secret], "seq": 1}):  # fmt: skip
        assert await refused(bob, {"type": "read", **bad}) == "invalid_field", bad
    # A member may read; once removed (on the other node's services), refused like an outsider.
    await bob.subscribe(secret)
    await bob.send({"type": "read", "room": secret, "seq": 1})
    assert (await read_updated(bob, secret))["seq"] == 1
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_member_remove(room_slug={secret!r}, actor=None, username={bob_name!r}, as_admin=True); print('ok')"
    )
    await bob.recv_type("room.removed")
    assert await refused(bob, {"type": "read", "room": secret, "seq": 1}) == "unknown_room"
    await eve.send({"type": "ping"})
    await eve.recv_type("pong")  # the connection stays open
    await eve.close(), await bob.close(), await alice.close()


async def test_counts_survive_a_new_connection_and_a_new_browser(cluster):
    _, alice_http = new_user(cluster)
    bob_name, bob_http = new_user(cluster)
    slug = alice_http.create_room("Survives")
    alice = await connect(cluster, alice_http, 0)
    first = await alice.send_message(slug, "one", "v1")
    bob = await connect(cluster, bob_http, 0)
    await bob.send({"type": "read", "room": slug, "seq": first["seq"]})
    await read_updated(bob, slug)
    await bob.close()
    await alice.send_message(slug, "two", "v2")
    await alice.send_message(slug, f"three @{bob_name}", "v3")
    fresh = HttpUser(cluster.nodes[1].http_url)  # another browser: a new login, nothing stored locally
    fresh.login(bob_name, PASSWORD)
    for client in (await connect(cluster, bob_http, 1), await connect(cluster, fresh, 1)):
        state = await room_state(client, slug)
        assert (state["read_seq"], state["unread"], state["mentions"]) == (first["seq"], 2, 1)
        await client.close()
    await alice.close()


async def test_rooms_list_over_100_rooms_with_counts_is_quick(cluster):
    _, bob_http = new_user(cluster)
    bob = await connect(cluster, bob_http, 0)
    await bob.send({"type": "rooms.list"})
    await bob.recv_type("rooms")
    slugs = cluster.make_rooms([f"Hundred {i}" for i in range(100)])
    started = time.monotonic()
    await bob.send({"type": "rooms.list"})
    rooms = (await bob.recv_type("rooms"))["rooms"]
    took = time.monotonic() - started
    assert {r["slug"] for r in rooms} >= set(slugs)
    assert all({"read_seq", "unread", "mentions"} <= set(r) for r in rooms)
    print(f"rooms.list of {len(rooms)} rooms with counts: {took * 1000:.0f} ms")
    await bob.close()
