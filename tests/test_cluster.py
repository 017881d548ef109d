"""Cluster behaviour on real processes: one real Redis, one database, two daphne nodes."""

import asyncio
import inspect
import time

import httpx
import pytest
import websockets
from redis.asyncio.connection import AbstractConnection

from chat.testing.clients import WsClient
from chat.testing.cluster import DATABASES, cluster_on, connect, new_user
from tests.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    """Every test here runs twice: on SQLite (the embedded default) and on a real PostgreSQL."""
    with cluster_on(request.param, tmp_path_factory.mktemp(f"cluster-{request.param}")) as cluster:
        yield cluster


async def test_users_on_different_nodes_chat_both_ways(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=0)  # logged in through node 1 ...
    room = http_a.create_room("Both ways")
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)  # ... and authenticated on node 2
    await a.subscribe(room)
    await b.subscribe(room)
    await a.send_message(room, "hello from node 1", "a1")
    got = await b.recv_type("message")
    assert (got["author"], got["body"], got["seq"]) == (name_a, "hello from node 1", 1)
    assert (await a.recv_type("message"))["seq"] == 1  # the sender sees its own message too
    await b.send_message(room, "hello from node 2", "b1")
    got = await a.recv_type("message")
    assert (got["author"], got["body"], got["seq"]) == (name_b, "hello from node 2", 2)
    await a.close()
    await b.close()


async def test_a_mention_on_node_1_notifies_the_user_on_node_2(cluster):
    _, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=1)
    room = http_a.create_room("Mentions")
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)  # not subscribed to the room
    await a.send_message(room, f"hi @{name_b}", "m1")
    note = await b.recv_type("notification")
    assert (note["kind"], note["room"], note["seq"], note["body"]) == ("mention", room, 1, f"hi @{name_b}")
    await a.close()
    await b.close()


async def test_reconnecting_with_since_gets_exactly_the_missed_messages(cluster):
    _, http_a = new_user(cluster)
    _, http_b = new_user(cluster)
    room = http_a.create_room("Reconnect")
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)
    await b.subscribe(room)
    await a.send_message(room, "before", "r0")
    last_seen = (await b.recv_type("message"))["seq"]
    await b.close()
    for i in range(3):
        await a.send_message(room, f"missed {i}", f"r{i + 1}")
    b = await connect(cluster, http_b, 1)
    subscribed = await b.subscribe(room, since=last_seen)
    assert subscribed["recovered"] is True
    frames = [await b.recv() for _ in range(3)]
    assert (await b.recv())["type"] == "presence"
    assert [(f["type"], f["seq"], f["body"]) for f in frames] == [
        ("message", 2, "missed 0"),
        ("message", 3, "missed 1"),
        ("message", 4, "missed 2"),
    ]
    await assert_nothing_more_after_repair_ticks(cluster, room, sender=a, reader=b)
    await a.close()
    await b.close()


async def assert_nothing_more_after_repair_ticks(cluster, room: str, *, sender: WsClient, reader: WsClient):
    """No message reaches the reader twice, even after the repair loop ran: a marker sent once two
    repair ticks have passed is the next message the reader gets."""
    # Time passing is the point: the repair loop must have had its chance to (wrongly) resend,
    # and a tick is not observable from outside.
    await asyncio.sleep(2 * float(cluster.env["CHAT_REPAIR_INTERVAL"]) + 0.2)
    marker = await sender.send_message(room, "marker", f"marker-{room}")
    got = await reader.recv_type("message")
    assert (got["seq"], got["body"]) == (marker["seq"], "marker")


async def test_concurrent_writers_on_both_nodes_reach_a_late_subscriber_gap_free(cluster):
    _, http_a = new_user(cluster)
    _, http_b = new_user(cluster)
    _, http_c = new_user(cluster)
    room = http_a.create_room("Busy")
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)
    reader = await connect(cluster, http_c, 1)

    acked = {"a": 0, "b": 0}

    async def write(client: WsClient, tag: str) -> None:
        for i in range(40):
            await client.send_message(room, f"{tag}{i}", f"{tag}{i}")
            acked[tag] += 1

    writers = asyncio.gather(write(a, "a"), write(b, "b"))
    # Subscribe while both nodes are writing.
    await wait_until(lambda: min(acked.values()) >= 3, lambda: f"both writers under way, acked {acked}")
    subscribed = await reader.subscribe(room, since=0)
    assert subscribed["recovered"] is True
    await writers
    seqs = []
    while len(seqs) < 80:
        frame = await reader.recv()
        if frame["type"] == "message":
            seqs.append(frame["seq"])
    assert seqs == list(range(1, 81))
    await assert_nothing_more_after_repair_ticks(cluster, room, sender=a, reader=reader)
    for client in (a, b, reader):
        await client.close()


REDIS_PY_SOCKET_TIMEOUT = inspect.signature(AbstractConnection).parameters["socket_timeout"].default
IDLE = 2 * REDIS_PY_SOCKET_TIMEOUT + 2  # 12 s with redis-py 8


async def test_an_idle_subscription_still_receives_after_12_seconds(cluster):
    # redis-py 8's default 5 s socket_timeout breaks idle channel-layer reads (channels_redis#422).
    _, http_a = new_user(cluster)
    _, http_b = new_user(cluster)
    room = http_a.create_room("Idle")
    b = await connect(cluster, http_b, 1)
    await b.subscribe(room)
    # Time passing is what this test is about: the subscription stays idle longer than twice
    # redis-py's default socket_timeout, which would end it.
    await asyncio.sleep(IDLE)
    a = await connect(cluster, http_a, 0)
    await a.send_message(room, "still there?", "idle1")
    assert (await b.recv_type("message", timeout=3))["body"] == "still there?"
    await a.close()
    await b.close()


async def test_daphne_refuses_foreign_origins_oversized_frames_and_invalid_utf8(cluster):
    _, http_a = new_user(cluster)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await WsClient.connect(cluster.nodes[0].port, http_a.session_cookie, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    a = await connect(cluster, http_a, 0)
    await a.connection.send("x" * (64 * 1024 + 1))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await a.recv()
    assert closed.value.rcvd.code == 1009
    a = await connect(cluster, http_a, 0)
    await a.connection.send(b"\xff\xfe invalid utf-8", text=True)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await a.recv()
    assert closed.value.rcvd.code == 1007
    # The node keeps serving.
    a = await connect(cluster, http_a, 0)
    await a.send({"type": "ping"})
    assert await a.recv() == {"type": "pong"}
    await a.close()


async def test_pages_are_served_and_require_login(cluster):
    anonymous = httpx.Client(base_url=cluster.nodes[1].http_url)
    assert anonymous.get("/").status_code == 302
    assert anonymous.get("/accounts/login/").status_code == 200
    assert anonymous.get("/admin/login/").status_code == 200
    _, http_a = new_user(cluster)
    room = http_a.create_room("Page")
    on_other_node = httpx.Client(
        base_url=cluster.nodes[1].http_url, cookies={"sessionid": http_a.session_cookie}
    )
    page = on_other_node.get(f"/rooms/{room}/")
    assert page.status_code == 200 and "Page" in page.text
    assert on_other_node.get("/rooms/no-such-room/").status_code == 404


async def test_restarting_every_node_loses_no_room_and_no_message(cluster):
    _, http_a = new_user(cluster)
    room = http_a.create_room("Durable")
    a = await connect(cluster, http_a, 0)
    for i in range(5):
        await a.send_message(room, f"keep {i}", f"d{i}")
    await a.close()
    cluster.restart_all()
    b = await connect(cluster, http_a, 1)  # the session survives too
    subscribed = await b.subscribe(room)
    history = await b.recv_type("history")
    assert subscribed["last_seq"] == 5
    assert [m["body"] for m in history["messages"]] == [f"keep {i}" for i in range(5)]
    await b.send_message(room, "after restart", "d5")
    assert (await b.recv_type("message"))["seq"] == 6
    await b.close()


async def test_a_history_page_larger_than_the_client_frame_limit_arrives(cluster):
    """Regression: autobahn applied the 64 KiB limit on client frames to the server's frames too,
    and a history page above it raised in the node instead of reaching the client."""
    _, http_a = new_user(cluster, node=0)
    room = http_a.create_room("Long messages")
    a = await connect(cluster, http_a, 0)
    body = "가" * 4000  # 12 kB of UTF-8
    for i in range(20):
        await a.send_message(room, body, f"long{i}")
    await a.send({"type": "history.fetch", "room": room, "limit": 20})
    page = await a.recv_type("history")
    assert [m["seq"] for m in page["messages"]] == list(range(1, 21))
    assert all(m["body"] == body for m in page["messages"])
    await a.close()


async def test_group_commits_of_two_nodes_over_the_same_rooms_never_deadlock(cluster):
    # Two writers (as two nodes' database threads) commit batches that name the same rooms in
    # opposite orders, starting together. Locking rooms in arrival order deadlocked on PostgreSQL.
    rooms = cluster.make_rooms(["Lock A", "Lock B", "Lock C"])
    code = (
        "import threading\n"
        "from django.db import connection\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat.domain import services\n"
        "from chat.models import Message\n"
        "user = get_user_model().objects.create_user(username='locker', password=None)\n"
        f"rooms = {rooms!r}\n"
        "errors, start = [], threading.Barrier(2, timeout=30)\n"
        "def write(tag, order):\n"
        "    try:\n"
        "        for i in range(25):\n"
        "            start.wait()\n"
        "            requests = [services.MessageRequest(s, user, 'x', f'{tag}{i}{s}') for s in order]\n"
        "            results = services.messages_create_batch(requests)\n"
        "            errors.extend(repr(r) for r in results if not isinstance(r, tuple))\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc)); start.abort()\n"
        "    finally:\n"
        "        connection.close()\n"
        "threads = [threading.Thread(target=write, args=('a', rooms)), "
        "threading.Thread(target=write, args=('b', rooms[::-1]))]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(errors, Message.objects.filter(room__slug__in=rooms).count())"
    )
    assert cluster.django(code) == "[] 150"


async def test_a_rate_limited_send_names_the_wait_and_is_stored_after_it_on_any_node(cluster):
    # The cluster's limit is 1000 messages per 10 s: give a user 1000 messages, 6 s old, 0.1 ms apart.
    name, http = new_user(cluster, node=0)
    room = http.create_room("Rate")
    code = (
        "from datetime import timedelta\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.utils import timezone\n"
        "from chat.models import Message, Room\n"
        f"user = get_user_model().objects.get(username={name!r}); room = Room.objects.get(slug={room!r})\n"
        "oldest = timezone.now() - timedelta(seconds=6)\n"
        "Message.objects.bulk_create(Message(room=room, seq=i + 1, author=user, body='x', client_msg_id=f'b{i}', "
        "created_at=oldest + timedelta(microseconds=100 * i)) for i in range(1000))\n"
        "Room.objects.filter(pk=room.pk).update(last_seq=1000)\n"
        "print(oldest.timestamp())"
    )
    oldest = float(cluster.django(code))
    b = await connect(cluster, http, 1)
    frame = {"type": "message.send", "room": room, "body": "one more", "client_msg_id": "late"}
    sent = time.time()
    await b.send(frame)
    error = await b.recv_type("error")
    answered = time.time()
    assert error["code"] == "rate_limited" and error["ref"] == "late"
    # When the oldest counted message leaves the 10 s window, as the server saw the time.
    assert oldest + 10 - answered <= error["retry_after"] <= oldest + 10 - sent + 0.001, (error, sent)
    await asyncio.sleep(error["retry_after"])
    a = await connect(cluster, http, 0)
    await a.send(frame)  # the same send, through the other node
    assert (await a.recv_type("message.ack"))["seq"] == 1001
    await a.close()
    await b.close()
