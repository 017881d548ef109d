"""The per-user rate limit on real processes: three nodes sending for the same users at once."""

import asyncio
import json

import pytest
import websockets

from chat.testing.clients import WsClient
from chat.testing.cluster import DATABASES, cluster_on

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

LIMIT = 30


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    # A window far longer than the test: every send of a user falls in one window.
    with cluster_on(
        request.param,
        tmp_path_factory.mktemp(f"ratelimit-{request.param}"),
        nodes=3,
        CHAT_RATE_LIMIT_MESSAGES=str(LIMIT),
        CHAT_RATE_LIMIT_WINDOW="600",
    ) as cluster:
        yield cluster


async def test_three_nodes_sending_at_once_for_one_user_store_exactly_the_limit(cluster):
    """Each user sends through one socket on each of three nodes, as fast as they take it, to a
    room per node: the users' sends race on every node at the limit's edge. Counting before any
    lock under READ COMMITTED stored limit + 1 (or + 2) on PostgreSQL."""
    users = 6
    rooms = cluster.make_rooms([f"Limit {n}" for n in range(len(cluster.nodes))])
    sessions = cluster.make_sessions(users, "limited")

    async def send_all(key: str, node: int, tag: str) -> tuple[int, int]:
        client = await WsClient.connect(cluster.nodes[node].port, key)
        frames = [
            json.dumps(
                {"type": "message.send", "room": rooms[node], "body": "x", "client_msg_id": f"{tag}-{i}"}
            )
            for i in range(LIMIT)
        ]
        await asyncio.gather(*(client.connection.send(frame) for frame in frames))
        acks = refused = 0
        try:
            while acks + refused < LIMIT:
                frame = await client.recv(timeout=30)
                acks += frame["type"] == "message.ack"
                refused += frame.get("code") == "rate_limited"
        except websockets.ConnectionClosed:
            pass  # closed with 4429 after more than 20 refusals: its other sends were never handled
        await client.close()
        return acks, refused

    results = await asyncio.gather(
        *(
            send_all(key, node, f"{name}-n{node}")
            for name, key in sessions
            for node in range(len(cluster.nodes))
        )
    )
    names = [name for name, _ in sessions]
    stored = json.loads(
        cluster.django(
            "import json; from django.db.models import Count; from chat.models import Message\n"
            f"rows = Message.objects.filter(author__username__in={names!r})"
            ".values_list('author__username').annotate(n=Count('id'))\n"
            "print(json.dumps(dict(rows)))"
        )
    )
    per_user = len(cluster.nodes)  # results come user by user, one per node
    acked = {
        name: sum(acks for acks, _ in results[i * per_user : (i + 1) * per_user])
        for i, name in enumerate(names)
    }
    print(f"\nstored per user: {stored}; acked: {acked}")
    assert stored == {name: LIMIT for name in names}
    assert acked == stored


async def test_batches_naming_the_same_authors_and_rooms_in_opposite_orders_never_deadlock(cluster):
    # Two writers (as two nodes' database threads) commit batches whose authors and rooms come in
    # opposite orders, starting together: authors are locked first, in id order, then rooms, in
    # slug order, so neither waits for the other in a cycle (PostgreSQL would abort one).
    rooms = cluster.make_rooms(["Order A", "Order B", "Order C"])
    code = (
        "import threading\n"
        "from django.db import connection\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat.domain import services\n"
        "from chat.models import Message\n"
        "User = get_user_model()  # three new authors per round: none reaches the rate limit\n"
        "rounds = [[User.objects.create_user(username=f'order{i}-{n}', password=None) for n in range(3)] "
        "for i in range(20)]\n"
        f"rooms = {rooms!r}\n"
        "errors, start = [], threading.Barrier(2, timeout=30)\n"
        "def write(tag, step):\n"
        "    try:\n"
        "        for i, users in enumerate(rounds):\n"
        "            start.wait()\n"
        "            pairs = [(u, r) for u in users for r in rooms][::step]\n"
        "            requests = [services.MessageRequest(r, u, 'x', f'{tag}{i}{r}') for u, r in pairs]\n"
        "            results = services.messages_create_batch(requests)\n"
        "            errors.extend(repr(r) for r in results if not isinstance(r, tuple))\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc)); start.abort()\n"
        "    finally:\n"
        "        connection.close()\n"
        "threads = [threading.Thread(target=write, args=('a', 1)), threading.Thread(target=write, args=('b', -1))]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(errors, Message.objects.filter(room__slug__in=rooms).count())"
    )
    assert cluster.django(code) == "[] 360"  # 2 writers x 20 batches x 3 authors x 3 rooms
