"""Shared fixtures: a real Redis-compatible server for the whole run, users, sockets."""

import json
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from chat.devcluster import start_redis
from chat.protocol import framecache
from config.redis_url import parse_redis_url

ORIGIN = b"http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def redis_server():
    """A real Valkey server on 127.0.0.1 with a password, used by the channel layer."""
    server = start_redis()
    settings.REDIS_URL = server.url
    settings.REDIS = parse_redis_url(server.url, settings.REDIS_CONNECTION_OPTIONS)
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = settings.REDIS.channel_layer_hosts()
    channel_layers.backends.clear()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _real_redis(redis_server):
    """Every test runs against the real server (no in-memory layer anywhere)."""
    return redis_server


@pytest.fixture(autouse=True)
def _fresh_frame_cache():
    """Tests in this process reuse room ids and seqs on a flushed database: no cached frames across them."""
    framecache.clear()


@pytest.fixture(autouse=True)
def _close_the_pages_a_test_leaves(request):
    """A browser test that fails leaves its pages open (their users online, subscribed to every new
    public room): close them, so that the next test of the module starts alone in the browser."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            context.close()


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def room(alice):
    """A public room "general" created by alice."""
    from chat.domain import rooms

    return rooms.room_create(creator=alice, title="General")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Socket:
    """A WebsocketCommunicator that speaks JSON frames."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def send(self, frame: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def recv(self, timeout: float = 3) -> dict:
        return json.loads(await self.communicator.receive_from(timeout))

    async def recv_type(self, kind: str, timeout: float = 3) -> dict:
        """Receive frames until one of `kind` arrives (others are skipped)."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame

    async def drain(self, quiet: float = 0.5) -> list[dict]:
        """Every frame that arrives until the socket has been quiet for `quiet` seconds (a fixed
        wait: prefer reading up to a marker sent after, tests/waiting.py)."""
        frames = []
        while not await self.communicator.receive_nothing(quiet):
            frames.append(await self.recv())
        return frames

    async def nothing(self, timeout: float = 0.3) -> bool:
        """Whether nothing arrives for `timeout` seconds (a fixed wait: prefer a marker that must
        come next, tests/waiting.py)."""
        return await self.communicator.receive_nothing(timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(user=None, *, origin: bytes | None = ORIGIN, cookie: str | None = None):
    """Open /ws/ as `user` (or with a raw cookie); returns (connected, close_code_or_socket)."""
    from config.asgi import application

    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        cookie = f"{settings.SESSION_COOKIE_NAME}={await sync_to_async(session_cookie)(user)}"
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, code = await communicator.connect()
    return connected, Socket(communicator) if connected else code


@pytest.fixture
async def socket_for() -> AsyncIterator:
    """Factory of connected sockets, all closed at the end of the test."""
    opened: list[Socket] = []

    async def connect(user) -> Socket:
        connected, sock = await open_socket(user)
        assert connected, f"handshake refused: {sock}"
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        await sock.close()
