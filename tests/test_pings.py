"""WebSocket pings on a real node (config/server.py, item 13): a peer that answers them stays, whether
its pong is the empty one a browser sends or one with a payload (autobahn's parser then reads it); a
peer that answers nothing is dropped after --ping-timeout. Pings are sent from daphne's timeout walk
(every CHECKER_PERIOD, 5 s), so each case takes a few walks."""

import asyncio
import base64
import os
import struct

import pytest

from chat.testing.cluster import start_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

PING_INTERVAL, PING_TIMEOUT = 1, 2


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    cluster = start_cluster(
        tmp_path_factory.mktemp("pings"),
        nodes=1,
        node_args=("--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)),
    )
    try:
        yield cluster
    finally:
        cluster.stop()
    cluster.assert_no_tracebacks()


def masked(opcode: int, payload: bytes = b"") -> bytes:
    """A client's frame: FIN, the opcode, masked (as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + body


class RawSocket:
    """A WebSocket client on a bare TCP stream that answers pings (or not) as told, and counts them."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.pings = 0

    @classmethod
    async def open(cls, port: int, session_key: str) -> "RawSocket":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"Cookie: sessionid={session_key}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def run(self, answer: bytes | None, *, until_pings: int, timeout: float) -> bool:
        """Read frames, answering each ping with `answer` (None: never), until `until_pings` pings
        came (True) or the server closed the connection (False)."""
        async with asyncio.timeout(timeout):
            while self.pings < until_pings:
                try:
                    first, second = await self.reader.readexactly(2)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return False
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                await self.reader.readexactly(length)
                if first & 0x0F == 0x9:
                    self.pings += 1
                    if answer is not None:
                        self.writer.write(answer)
                elif first & 0x0F == 0x8:
                    return False
        return True


async def test_a_peer_that_answers_pings_stays_and_a_silent_one_is_dropped(node):
    sessions = node.make_sessions(3, "pinger")
    port = node.nodes[0].port
    browser_like, with_payload, silent = [await RawSocket.open(port, key) for _, key in sessions]
    stayed = await asyncio.gather(
        browser_like.run(masked(0xA), until_pings=3, timeout=40),  # the 6-byte empty pong
        with_payload.run(masked(0xA, b"hi"), until_pings=3, timeout=40),  # parsed by autobahn
        silent.run(None, until_pings=100, timeout=40),
    )
    assert stayed == [True, True, False]
    assert silent.pings >= 1  # dropped after a ping it did not answer, not before
    for client in (browser_like, with_payload, silent):
        client.writer.close()
