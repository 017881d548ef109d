"""Faults on real processes: node crash, Redis restarted empty, slow readers, floods, malformed
traffic. Short versions run in `make test`; `make faults` runs them at full size
(CHAT_FAULT_SCALE=long), as docs/reliability.md describes.
"""

import asyncio
import itertools
import json
import os
import signal
import socket
import time

import pytest
import websockets

from chat.protocol.session import FLOOD_STRIKES
from chat.testing.clients import ResilientClient, WsClient
from chat.testing.cluster import Cluster, start_cluster
from tests.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

LONG = os.environ.get("CHAT_FAULT_SCALE") == "long"


@pytest.fixture
def make_cluster(tmp_path):
    started: list[Cluster] = []

    def make(**env) -> Cluster:
        cluster = start_cluster(tmp_path / f"c{len(started)}", **env)
        started.append(cluster)
        return cluster

    yield make
    for cluster in started:
        cluster.stop()
    for cluster in started:
        cluster.assert_no_tracebacks()


def room_last_seqs(cluster: Cluster) -> dict[str, int]:
    return dict(cluster.sql("SELECT slug, last_seq FROM chat_room"))


def assert_complete_and_ordered(clients: list[ResilientClient], last_seqs: dict[str, int]) -> None:
    for client in clients:
        assert client.gaps == [], f"{client.name} saw gaps {client.gaps}"
        for room in client.rooms:
            seqs = client.received[room]
            assert sorted(set(seqs)) == list(range(1, last_seqs[room] + 1)), f"{client.name} {room}"
            first_arrivals = list(dict.fromkeys(seqs))
            assert first_arrivals == sorted(first_arrivals), f"{client.name} {room} out of order"


async def test_node_crash_loses_no_message_and_stores_each_send_once(make_cluster):
    clients_count, rooms_count, per_client = (50, 5, 40) if LONG else (20, 4, 12)
    cluster = make_cluster()
    rooms = cluster.make_rooms([f"Crash {i}" for i in range(rooms_count)])
    ports = [node.port for node in cluster.nodes]
    clients = []
    for i, (name, key) in enumerate(cluster.make_sessions(clients_count, "crash")):
        preferred = ports[i % 2 :] + ports[: i % 2]  # half start on node 2
        client_rooms = [rooms[i % rooms_count], rooms[(i + 1) % rooms_count]]
        clients.append(ResilientClient(name, key, preferred, client_rooms))
    for client in clients:
        client.start()
    await wait_until(lambda: all(c.connected.is_set() for c in clients), timeout=20)

    sent = [0]

    async def chat(client: ResilientClient) -> None:
        for n in range(per_client):
            await client.send(client.rooms[n % 2], f"{client.name} {n}", f"{client.name}-{n}")
            sent[0] += 1
            await asyncio.sleep(0.05)  # the chat's pace: 20 messages/s per client

    senders = [asyncio.create_task(chat(c)) for c in clients]
    total = clients_count * per_client
    await wait_until(lambda: sent[0] >= total * 0.4, f"40% of the {total} messages sent")
    os.kill(cluster.nodes[1].process.pid, signal.SIGKILL)  # node 2 dies mid-chat
    await asyncio.gather(*senders)
    await wait_until(lambda: all(not c.unacked for c in clients), timeout=60)
    last_seqs = room_last_seqs(cluster)

    def caught_up() -> bool:
        return all(c.last_seq[r] == last_seqs[r] for c in clients for r in c.rooms)

    await wait_until(caught_up, timeout=30)
    for client in clients:
        await client.stop()
    assert sum(last_seqs.values()) == total  # one row per send, retries included
    assert cluster.sql("SELECT COUNT(*) FROM chat_message")[0][0] == total
    assert_complete_and_ordered(clients, last_seqs)
    assert sum(c.reconnects for c in clients) >= clients_count // 2  # node 2's clients moved over
    cluster.nodes[1].process = None  # already dead; nothing to stop


async def test_a_commit_that_was_never_broadcast_reaches_every_node(make_cluster):
    cluster = make_cluster()
    [room] = cluster.make_rooms(["Outbox"])
    sessions = cluster.make_sessions(2, "silent")
    clients = [
        await WsClient.connect(node.port, key) for node, (_, key) in zip(cluster.nodes, sessions, strict=True)
    ]
    for client in clients:
        await client.subscribe(room)
    # What a node that died between COMMIT and PUBLISH leaves behind: a row nobody announced.
    cluster.sql("UPDATE chat_room SET last_seq = last_seq + 1 WHERE slug = ?", room)
    cluster.sql(
        "INSERT INTO chat_message (room_id, seq, author_id, body, body_html, created_at, client_msg_id, "
        "reply_count) SELECT id, last_seq, NULL, 'committed, never published', "
        "'<p>committed, never published</p>', datetime('now'), 'orphan', 0 "
        "FROM chat_room WHERE slug = ?",
        room,
    )
    for client in clients:
        message = await client.recv_type("message", timeout=5)
        assert (message["seq"], message["body"]) == (1, "committed, never published")
        await client.close()


OUTAGE = 5  # seconds Redis stays down
LIVE_AGAIN_WITHIN = 5  # seconds after Redis returns, every client has a new message live
PROBE_INTERVAL = 0.25


async def test_redis_restarted_empty_loses_nothing_and_live_delivery_returns(make_cluster):
    # A long repair interval, so that delivery after the restart must be live (pub/sub).
    cluster = make_cluster(CHAT_REPAIR_INTERVAL="60")
    [room] = cluster.make_rooms(["Restart"])
    sessions = cluster.make_sessions(11, "redis")
    clients = []
    for i, (_, key) in enumerate(sessions[:10]):
        client = await WsClient.connect(cluster.nodes[i % 2].port, key)
        await client.subscribe(room)
        clients.append(client)
    sender = clients[0]
    await sender.send_message(room, "before", "before")
    for client in clients:
        assert (await client.recv_type("message"))["body"] == "before"

    cluster.redis.stop()
    stopped = time.monotonic()
    ack = await sender.send_message(room, "during the outage", "during")  # stored, so acked
    assert ack["seq"] == 2
    late = await WsClient.connect(cluster.nodes[1].port, sessions[10][1])  # connects during the outage
    assert (await late.subscribe(room, since=2))["last_seq"] == 2
    clients.append(late)
    await wait_until(
        lambda: all("Redis pub/sub connection lost" in node.log_path.read_text() for node in cluster.nodes),
        "both nodes noticed that Redis is gone",
    )
    # The scenario is an outage of OUTAGE seconds (docs/reliability.md), during which the nodes
    # retry every second: its length is the point, no condition ends it.
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
    cluster.redis.start()
    assert cluster.redis.process.poll() is None
    restarted = time.monotonic()

    # Within LIVE_AGAIN_WITHIN, a new message reaches every connected client live (and the outage's
    # message, through the gap fill, before it).
    bodies: dict[int, list[str]] = {i: [] for i in range(len(clients))}
    first_live: dict[int, float] = {}

    async def read(i: int, client: WsClient) -> None:
        while True:
            frame = await client.recv(timeout=30)
            if frame["type"] == "message":
                bodies[i].append(frame["body"])
                if frame["body"].startswith("probe"):
                    first_live.setdefault(i, time.monotonic() - restarted)

    async def probe() -> None:
        for attempt in itertools.count(1):
            frame = {
                "type": "message.send",
                "room": room,
                "body": f"probe {attempt}",
                "client_msg_id": f"p{attempt}",
            }
            await sender.send(frame)
            await asyncio.sleep(PROBE_INTERVAL)  # the probes' pace

    tasks = [asyncio.create_task(read(i, c)) for i, c in enumerate(clients)]
    tasks.append(asyncio.create_task(probe()))
    try:
        # The claim has a deadline: LIVE_AGAIN_WITHIN after the restart, plus two probe intervals
        # for the last probe sent before it to arrive.
        await wait_until(
            lambda: len(first_live) == len(clients),
            lambda: f"a live message for clients {set(range(len(clients))) - set(first_live)}",
            timeout=LIVE_AGAIN_WITHIN + 2 * PROBE_INTERVAL - (time.monotonic() - restarted),
        )
    finally:
        for task in tasks:
            task.cancel()
    for i in range(10):
        assert bodies[i][0] == "during the outage", f"client {i}: {bodies[i]}"
    assert all(node.process.poll() is None for node in cluster.nodes)
    print(
        f"live delivery back to all {len(clients)} clients {max(first_live.values()):.2f} s after Redis restarted"
    )
    for client in clients:
        await client.close()


async def test_group_membership_lives_in_the_nodes_not_in_redis_keys(make_cluster):
    cluster = make_cluster()
    [room] = cluster.make_rooms(["Groups"])
    [(_, key)] = cluster.make_sessions(1, "groups")
    client = await WsClient.connect(cluster.nodes[0].port, key)
    await client.subscribe(room)
    import redis

    r = redis.Redis.from_url(cluster.redis.url)
    # No key holds group members (nothing to expire); the node holds one pub/sub subscription.
    assert [k for k in r.keys("*") if b"group" in k] == []
    assert [k for k in r.keys("*") if r.ttl(k) == -1] == []  # every key we keep expires
    channels = [c for c in r.pubsub_channels() if b"__group__chat.room." in c]
    assert len(channels) == 1 and r.pubsub_numsub(channels[0])[0][1] == 1
    await client.close()


def _stalled_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


async def test_stalled_readers_are_disconnected_and_others_keep_up(make_cluster):
    cluster = make_cluster(CHAT_SEND_BUFFER_LIMIT="262144", CHAT_SOCKET_SNDBUF="65536")
    node = cluster.nodes[0]
    [room] = cluster.make_rooms(["Slow"])
    sessions = cluster.make_sessions(14, "slow")
    stalled = []
    for _, key in sessions[:10]:
        connection = await websockets.connect(
            f"ws://127.0.0.1:{node.port}/ws/",
            origin=f"http://127.0.0.1:{node.port}",
            additional_headers={"Cookie": f"sessionid={key}"},
            sock=_stalled_socket(node.port),
            max_queue=1,
        )
        await connection.send(json.dumps({"type": "subscribe", "room": room}))
        stalled.append(connection)  # ... and never read again
    readers = []
    for _, key in sessions[10:13]:
        reader = await WsClient.connect(node.port, key)
        await reader.subscribe(room)
        readers.append(reader)
    publisher = await WsClient.connect(node.port, sessions[13][1])
    rss_before = _rss_kib(node.process.pid)

    received = {i: 0 for i in range(len(readers))}
    latencies: list[float] = []

    async def read(i: int, reader: WsClient) -> None:
        while True:
            frame = await reader.recv(timeout=10)
            if frame["type"] == "message":
                received[i] += 1
                sent_at = float(frame["body"].split(" ", 1)[0])
                latencies.append(time.time() - sent_at)

    tasks = [asyncio.create_task(read(i, r)) for i, r in enumerate(readers)]
    count, body_pad = (1500, "x" * 3900) if LONG else (500, "x" * 3900)
    for n in range(count):  # 50 messages/s of ~4 KB
        await publisher.send(
            {
                "type": "message.send",
                "room": room,
                "body": f"{time.time()} {body_pad}",
                "client_msg_id": f"s{n}",
            }
        )
        await asyncio.sleep(0.02)
    await wait_until(lambda: all(v == count for v in received.values()), timeout=20)
    for task in tasks:
        task.cancel()
    closed_log = cluster.logs().count("client not reading")
    rss_after = _rss_kib(node.process.pid)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"stalled closed: {closed_log}/10, readers p99 {p99 * 1000:.1f} ms, RSS {rss_before}->{rss_after} KiB"
    )
    assert closed_log == 10
    assert rss_after - rss_before < 64 * 1024  # far below 10 stalled x 2 MB of unread messages
    for connection in stalled:
        connection.transport.abort()
    for reader in readers + [publisher]:
        await reader.close()


async def test_a_flooding_user_is_limited_across_nodes_and_others_are_unaffected(make_cluster):
    cluster = make_cluster(CHAT_RATE_LIMIT_MESSAGES="20", CHAT_RATE_LIMIT_WINDOW="10")
    [room] = cluster.make_rooms(["Flood"])
    (_, flooder_key), (_, calm_key), (_, reader_key) = cluster.make_sessions(3, "flood")
    floods = [await WsClient.connect(node.port, flooder_key) for node in cluster.nodes]
    calm = await WsClient.connect(cluster.nodes[0].port, calm_key)
    reader = await WsClient.connect(cluster.nodes[1].port, reader_key)
    await reader.subscribe(room)
    total = 1000 if LONG else 300

    async def flood(i: int, ws: WsClient) -> tuple[int, int, int | None]:
        acks = limited = 0
        for n in range(total // 2):
            try:
                await ws.send(
                    {"type": "message.send", "room": room, "body": "spam", "client_msg_id": f"f{i}-{n}"}
                )
            except websockets.ConnectionClosed:
                break
        try:
            while True:
                frame = await ws.recv(timeout=5)
                acks += frame["type"] == "message.ack"
                limited += frame.get("code") == "rate_limited"
        except websockets.ConnectionClosed as closed:
            return acks, limited, closed.rcvd.code if closed.rcvd else None

    flooding = asyncio.gather(*(flood(i, ws) for i, ws in enumerate(floods)))
    await calm.send_message(room, "calm message", "calm1")
    results = await flooding
    acks = sum(r[0] for r in results)
    assert acks <= 40  # 20 per 10 s window; the run may straddle two windows
    assert all(r[1] > 0 for r in results) and [r[2] for r in results] == [4429, 4429]
    # Every stored message comes before a marker sent once the flood is over (a room's messages
    # arrive in seq order).
    await calm.send_message(room, "marker", "calm2")
    bodies = []
    while (frame := await reader.recv_type("message", timeout=30))["body"] != "marker":
        bodies.append(frame["body"])
    assert "calm message" in bodies and bodies.count("spam") == acks
    await calm.close()
    await reader.close()


async def test_malformed_traffic_gets_documented_answers_and_the_node_keeps_serving(make_cluster):
    cluster = make_cluster()
    port = cluster.nodes[0].port
    [room] = cluster.make_rooms(["Malformed"])
    [(_, key)] = cluster.make_sessions(1, "malformed")
    frames = 10_000 if LONG else 2_000
    kinds = [
        ("{not json", "invalid_json"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "subscribe", "room": 7}', "invalid_field"),
        (json.dumps({"type": "message.send", "room": room, "body": "", "client_msg_id": "e"}), "empty_body"),
    ]
    # More than FLOOD_STRIKES refused frames within FLOOD_WINDOW close a connection (4429), so the
    # frames go over several connections: each gets FLOOD_STRIKES + 1, all answered, then 4429.
    codes: dict[str, int] = {}
    flood_closes = []
    for start in range(0, frames, FLOOD_STRIKES + 1):
        client = await WsClient.connect(port, key)
        for n in range(start, min(start + FLOOD_STRIKES + 1, frames)):
            await client.connection.send(kinds[n % len(kinds)][0])
        for _ in range(start, min(start + FLOOD_STRIKES + 1, frames)):
            frame = await client.recv()
            codes[frame["code"]] = codes.get(frame["code"], 0) + 1
        if frames - start > FLOOD_STRIKES:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await client.recv()
            flood_closes.append(closed.value.rcvd.code)
        await client.close()
    assert codes == {code: frames // len(kinds) for _, code in kinds}
    assert set(flood_closes) == {4429} and len(flood_closes) == frames // (FLOOD_STRIKES + 1)
    client = await WsClient.connect(port, key)
    await client.connection.send(b"\x00\x01", text=False)
    assert (await client.recv())["code"] == "invalid_frame"
    closes = []
    for payload in [b"\xc3\x28 bad utf-8", "x" * (64 * 1024 + 1)] * (10 if LONG else 3):
        bad = await WsClient.connect(port, key)
        await bad.connection.send(payload, text=True) if isinstance(
            payload, bytes
        ) else await bad.connection.send(payload)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await bad.recv()
        closes.append(closed.value.rcvd.code)
    assert set(closes) == {1007, 1009}
    await client.send_message(room, "still serving", "ok1")
    await client.close()


async def test_users_of_a_killed_node_leave_presence_everywhere(make_cluster):
    cluster = make_cluster(CHAT_PRESENCE_TTL="4", CHAT_PRESENCE_HEARTBEAT="1")
    [room] = cluster.make_rooms(["Ghosts"])
    (name_a, key_a), (name_b, key_b) = cluster.make_sessions(2, "ghost")
    a = await WsClient.connect(cluster.nodes[0].port, key_a)
    b = await WsClient.connect(cluster.nodes[1].port, key_b)
    await a.subscribe(room)
    await b.subscribe(room)
    assert (await b.recv_type("presence"))["users"] == sorted([name_a, name_b])
    os.kill(cluster.nodes[1].process.pid, signal.SIGKILL)
    killed = time.monotonic()
    while True:
        frame = await a.recv_type("presence", timeout=10)
        if name_b in frame["left"]:
            break
    gone_after = time.monotonic() - killed
    print(f"killed node's user left presence after {gone_after:.1f} s (TTL 4 s)")
    # Expiry is at most a TTL after the last heartbeat, seen at the next poll (1 s); slack for load.
    assert frame["users"] == [name_a] and gone_after < 4 + 3
    cluster.nodes[1].process = None
    await a.close()


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_soak_memory_keys_and_descriptors_stay_flat(make_cluster):
    seconds = int(os.environ.get("CHAT_SOAK_SECONDS", "1200" if LONG else "30"))
    cluster = make_cluster()
    rooms = cluster.make_rooms([f"Soak {i}" for i in range(5)])
    sessions = cluster.make_sessions(30, "soak")
    ports = [node.port for node in cluster.nodes]
    import redis

    r = redis.Redis.from_url(cluster.redis.url)
    stable = [ResilientClient(n, k, [ports[i % 2]], [rooms[i % 5]]) for i, (n, k) in enumerate(sessions[:10])]
    for client in stable:
        client.start()
    await wait_until(lambda: all(c.connected.is_set() for c in stable), timeout=20)
    deadline = time.monotonic() + seconds
    warm_at = time.monotonic() + seconds / 3
    warm: dict | None = None
    sent = 0

    async def churn(i: int, key: str) -> None:
        ws = await WsClient.connect(ports[i % 2], key)
        await ws.subscribe(rooms[i % 5])
        await ws.send_message(rooms[i % 5], f"hello {i}", f"churn-{i}-{time.monotonic_ns()}")
        await ws.close()

    n = 0
    while time.monotonic() < deadline:
        client = stable[n % len(stable)]
        await client.send(client.rooms[0], f"steady {n}", f"{client.name}-{n}")
        sent += 1
        if n % 5 == 0:
            await churn(n, sessions[10 + n % 20][1])
        n += 1
        if warm is None and time.monotonic() > warm_at:
            warm = {
                "rss": [_rss_kib(node.process.pid) for node in cluster.nodes],
                "fds": [_fd_count(node.process.pid) for node in cluster.nodes],
                "keys": r.dbsize(),
            }
        await asyncio.sleep(0.05)  # the soak's pace: 20 steady messages/s
    await wait_until(lambda: all(not c.unacked for c in stable), timeout=30)
    end = {
        "rss": [_rss_kib(node.process.pid) for node in cluster.nodes],
        "fds": [_fd_count(node.process.pid) for node in cluster.nodes],
        "keys": r.dbsize(),
    }
    for client in stable:
        await client.stop()
    print(
        f"soak {seconds} s, {sent} steady messages + {n // 5 + 1} churned connections: warm {warm} end {end}"
    )
    growth = max(e / w for e, w in zip(end["rss"], warm["rss"], strict=True))
    assert growth < (1.10 if LONG else 1.25), f"RSS grew {growth:.2f}x"
    assert all(e <= w + 5 for e, w in zip(end["fds"], warm["fds"], strict=True))
    assert end["keys"] <= warm["keys"] + 10
