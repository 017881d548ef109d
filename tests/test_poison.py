"""Poison frames on real processes: one client's bad input never fails another client's send.

Two daphne nodes, one Redis, SQLite and PostgreSQL. A poison frame is valid JSON whose content the
storage cannot hold (a lone surrogate, NUL, a control character in an id): refused with
`invalid_field` before the database, and a send that fails anyway fails alone in its batch.
"""

import asyncio
import json
import time

import pytest
import websockets

from chat.testing.clients import WsClient
from chat.testing.cluster import DATABASES, cluster_on

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    with cluster_on(request.param, tmp_path_factory.mktemp(f"poison-{request.param}")) as cluster:
        cluster.vendor = request.param
        yield cluster


def send_frame(room: str, body: str, client_msg_id: str) -> str:
    # json.dumps escapes "\ud800" as the six characters \ud800: valid JSON in valid UTF-8.
    return json.dumps({"type": "message.send", "room": room, "body": body, "client_msg_id": client_msg_id})


POISONS = {
    "a lone surrogate in the body": lambda n: ("\ud800", f"lone{n}"),
    "a lone low surrogate after text": lambda n: ("ok \udfff", f"low{n}"),
    "NUL in the body": lambda n: ("a\x00b", f"nul{n}"),
    "a C1 control in the body": lambda n: ("a\x85b", f"c1{n}"),
    "a 64-character client_msg_id with a trailing newline": lambda n: ("hi", f"nl{n}".ljust(64, "x") + "\n"),
    "a short client_msg_id with a trailing newline": lambda n: ("hi", f"nl{n}\n"),
    "a lone surrogate in the client_msg_id": lambda n: ("hi", f"s{n}\ud800"),
}


FLOOD_POISONS = [
    "a lone surrogate in the body",
    "NUL in the body",
    "a 64-character client_msg_id with a trailing newline",
]


async def answer_to(client: WsClient) -> dict:
    """The next ack or error (each client here has one send in flight; lobby frames are skipped)."""
    while True:
        frame = await client.recv(timeout=20)
        if frame["type"] in ("message.ack", "error"):
            return frame


@pytest.mark.parametrize("poison", POISONS, ids=list(POISONS))
async def test_three_users_send_at_once_and_only_the_poison_is_refused(cluster, poison):
    [room] = cluster.make_rooms([f"Poison {poison}"])
    keys = [key for _, key in cluster.make_sessions(4, f"p{abs(hash(poison)) % 10**6}-")]
    node1, node2 = (node.port for node in cluster.nodes)
    alice, mallory, carol = [await WsClient.connect(node1, key) for key in keys[:3]]  # one node: one batch
    reader = await WsClient.connect(node2, keys[3])
    await reader.subscribe(room)
    await reader.recv_type("presence")
    rounds = 6
    for n in range(rounds):
        body, bad_id = POISONS[poison](n)
        frames = [
            (alice, send_frame(room, f"alice {n}", f"a{n}")),
            (mallory, send_frame(room, body, bad_id)),
            (carol, send_frame(room, f"carol {n}", f"c{n}")),
        ]
        await asyncio.gather(*(client.connection.send(text) for client, text in frames))
        got_a, got_m, got_c = await asyncio.gather(answer_to(alice), answer_to(mallory), answer_to(carol))
        assert (got_a["type"], got_c["type"]) == ("message.ack", "message.ack"), (n, got_a, got_c)
        assert (got_m["type"], got_m["code"]) == ("error", "invalid_field"), got_m
    # The reader on the other node got every good message, gap-free, and nothing else.
    bodies = []
    while len(bodies) < 2 * rounds:
        frame = await reader.recv(timeout=10)
        if frame["type"] == "message":
            assert frame["seq"] == len(bodies) + 1
            bodies.append(frame["body"])
    assert sorted(bodies) == sorted(
        [f"alice {n}" for n in range(rounds)] + [f"carol {n}" for n in range(rounds)]
    )
    for client in (alice, mallory, carol, reader):
        await client.close()


async def test_a_poison_flood_from_one_socket_fails_no_other_users_send(cluster):
    """50 poison frames a second from one user (reconnecting whenever it is closed) while four
    users send 5 messages a second each through the same node: every one of theirs is stored."""
    [room] = cluster.make_rooms(["Flooded"])
    sessions = cluster.make_sessions(5, "flood-poison-")
    node = cluster.nodes[0]
    (_, attacker_key), calm_sessions = sessions[0], sessions[1:]
    seconds, calm_rate, poison_rate = 8, 5, 50
    log_before = node.log_path.stat().st_size
    stop = asyncio.Event()
    poison_sent = 0
    closes: list[int | None] = []

    async def poison() -> None:
        nonlocal poison_sent
        # The attack: poison that passed validation and failed in the batch's transaction.
        variants = [POISONS[name] for name in FLOOD_POISONS]
        while not stop.is_set():
            client = await WsClient.connect(node.port, attacker_key)
            reader = asyncio.ensure_future(_drain(client))
            try:
                while not stop.is_set() and not reader.done():
                    body, bad_id = variants[poison_sent % len(variants)](poison_sent)
                    await client.connection.send(send_frame(room, body, bad_id))
                    poison_sent += 1
                    await asyncio.sleep(1 / poison_rate)
            except websockets.ConnectionClosed:
                pass
            if stop.is_set():
                await client.close()
                await reader
            else:
                closes.append(await reader)  # the server closed it

    async def calm(key: str, tag: str) -> tuple[int, int]:
        client = await WsClient.connect(node.port, key)
        sent = failed = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < seconds:
            client_msg_id = f"{tag}-{sent}"
            await client.connection.send(send_frame(room, f"calm {client_msg_id}", client_msg_id))
            sent += 1
            try:
                answer = await answer_to(client)
                failed += answer["type"] != "message.ack"
            except TimeoutError:
                failed += 1
            await asyncio.sleep(1 / calm_rate)
        await client.close()
        return sent, failed

    attacker = asyncio.ensure_future(poison())
    results = await asyncio.gather(*(calm(key, f"calm{i}") for i, (_, key) in enumerate(calm_sessions)))
    stop.set()
    await attacker
    sent = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    log_growth = node.log_path.stat().st_size - log_before
    print(
        f"\n[{cluster.vendor}] calm sends {sent}, failed {failed} ({100 * failed / sent:.1f}%); "
        f"poison frames {poison_sent}, closed with {sorted(set(closes))} x{len(closes)}; "
        f"log +{log_growth} bytes ({log_growth / max(poison_sent, 1):.0f} per poison frame)"
    )
    assert failed == 0
    assert poison_sent >= seconds * poison_rate * 0.5
    assert 4429 in closes  # refused frames are flood strikes
    assert log_growth < 200 * poison_sent  # at most one short line per refused frame
    assert "Traceback" not in node.log_path.read_text()


async def _drain(client: WsClient) -> int | None:
    """Read until the socket closes; returns the close code the server sent."""
    try:
        while True:
            await client.connection.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def test_deeply_nested_json_is_invalid_json_on_ws_and_the_socket_stays_open(cluster):
    [(_, key)] = cluster.make_sessions(1, f"nested-{int(time.time() * 1000)}-")
    client = await WsClient.connect(cluster.nodes[0].port, key)
    for text in ("[" * 50_000, '{"a":' * 12_000, "[" * 5_000 + "]" * 5_000):
        await client.connection.send(text)
        frame = await client.recv()
        assert (frame["type"], frame["code"]) == ("error", "invalid_json"), frame
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}
    await client.close()


async def test_any_exception_in_one_send_of_a_batch_fails_only_that_send(cluster):
    """Past validation, whatever one send raises stays its own: here a room slug the driver cannot
    encode (raised by the statement) and an author deleted meanwhile (a deferred foreign key,
    raised by the COMMIT), in one batch between two good sends."""
    [room] = cluster.make_rooms([f"Isolated {cluster.vendor}"])
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from chat.domain import services\n"
        "from chat.models import Message\n"
        "User = get_user_model()\n"
        "a, c, gone = (User.objects.create_user(username=f'iso-{n}', password=None) for n in 'acg')\n"
        "User.objects.filter(pk=gone.pk).delete()  # a socket opened before would still hold it\n"
        f"room = {room!r}\n"
        "requests = [services.MessageRequest(room, a, 'first', 'i1'), "
        "services.MessageRequest('bad\\ud800', a, 'x', 'i2'), "
        "services.MessageRequest(room, gone, 'ghost', 'i3'), "
        "services.MessageRequest(room, c, 'last', 'i4')]\n"
        "results = services.messages_create_batch(requests)\n"
        "print(json.dumps([[type(r).__name__] if isinstance(r, Exception) else [r[0].seq, r[1]] "
        "for r in results] + [list(Message.objects.filter(room__slug=room).values_list('body', flat=True))]))"
    )
    *results, stored = json.loads(cluster.django("import json\n" + code))
    print(f"\n[{cluster.vendor}] {results} {stored}")
    assert results[0] == [1, True] and results[3] == [2, True]  # stored, with consecutive seqs
    assert results[1] != [2, True] and results[1][0].endswith("Error")  # the driver's error
    assert results[2] == ["IntegrityError"]  # the deleted author's send failed alone
    assert sorted(stored) == ["first", "last"]
