"""A cluster whose channel layer is sharded over two Redis servers (REDIS_URL lists both): each
group lives on one server (channels-redis hashes its name), and delivery still crosses nodes."""

import pytest
import redis

from chat.devcluster import start_redis
from chat.testing.cluster import connect, new_user, start_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

ROOMS = 12  # enough rooms that both servers hold some of their groups (by the hash of their names)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """Two nodes on one database, their channel layer sharded over two Redis servers."""
    workdir = tmp_path_factory.mktemp("sharded")
    first = start_redis(data_dir=workdir / "redis-a")
    second = start_redis(data_dir=workdir / "redis-b")
    try:
        cluster = start_cluster(workdir, redis=first, redis_url=f"{first.url},{second.url}")
        try:
            yield cluster, (first, second)
        finally:
            cluster.stop()  # stops the first server too
        cluster.assert_no_tracebacks()
    finally:
        first.stop()
        second.stop()


def _pubsub_channels(server) -> set[str]:
    client = redis.Redis.from_url(server.url)
    try:
        return {name.decode() for name in client.pubsub_channels()}
    finally:
        client.close()


async def _recv_from(client, author: str) -> dict:
    """The next `message` frame by `author` (a sender gets its own messages too)."""
    while True:
        got = await client.recv_type("message")
        if got["author"] == author:
            return got


async def test_messages_cross_nodes_in_rooms_on_either_shard(sharded):
    cluster, servers = sharded
    name_a, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=1)
    rooms = cluster.make_rooms([f"Sharded {i}" for i in range(ROOMS)])  # more than a user may create
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)
    for room in rooms:
        await a.subscribe(room)
        await b.subscribe(room)
    # Both servers carry some of the rooms' groups: the layer really is sharded.
    groups = [_pubsub_channels(server) for server in servers]
    assert all(any("chat.room." in name for name in names) for names in groups), groups
    for i, room in enumerate(rooms):
        await a.send_message(room, f"from node 1 in {room}", f"a{i}")
        got = await _recv_from(b, name_a)
        assert (got["room"], got["body"]) == (room, f"from node 1 in {room}")
        await b.send_message(room, f"from node 2 in {room}", f"b{i}")
        got = await _recv_from(a, name_b)
        assert (got["room"], got["body"]) == (room, f"from node 2 in {room}")
    await a.close()
    await b.close()


async def test_a_user_event_reaches_the_other_node_through_its_shard(sharded):
    cluster, _ = sharded
    _, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=1)
    room = http_a.create_room("Sharded mentions")
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)  # not subscribed: the mention goes to b's user group
    await a.send_message(room, f"hi @{name_b}", "m1")
    note = await b.recv_type("notification")
    assert (note["kind"], note["room"], note["body"]) == ("mention", room, f"hi @{name_b}")
    await a.close()
    await b.close()
