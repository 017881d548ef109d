"""Resource caps and memory bounds on real processes: a Valkey server and two daphne nodes."""

import asyncio
import contextlib
import json
import re
import signal
import time
import uuid

import httpx
import pytest
import websockets

from chat.testing.clients import CSRF_RE, HttpUser, WsClient
from chat.testing.cluster import (
    DATABASES,
    Cluster,
    cluster_on,
    connect,
    new_user,
    start_cluster,
)
from tests.sockjs_client import SockJSClient

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


async def wait_until(predicate, *, timeout: float, interval: float = 0.05) -> float:
    """Wait for predicate() to hold; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


# --- frame caches: a client paging a large history pins no memory -----------------------------

HISTORY_MESSAGES = 5000
PAGE = 100  # CHAT_HISTORY_MAX_PAGE


@pytest.fixture(scope="module")
def history_cluster(tmp_path_factory):
    """Two nodes and one room of 5,000 messages of 4,000 Korean characters (12 KB of UTF-8 each):
    a history page of 100 is a 1.2 MB frame."""
    cluster = start_cluster(tmp_path_factory.mktemp("history-cache"))
    [(name, key)] = cluster.make_sessions(1, "pager")
    [room] = cluster.make_rooms(["Long history"])
    cluster.django(
        "from chat.models import Message, Room; from django.contrib.auth import get_user_model\n"
        f"room = Room.objects.get(slug={room!r}); author = get_user_model().objects.get(username={name!r})\n"
        "body = ('가나다라마바사아자차카타파하 ' * 300)[:4000]\n"
        "Message.objects.bulk_create([Message(room=room, seq=i, author=author, body=body, "
        f"client_msg_id=f'seed{{i}}') for i in range(1, {HISTORY_MESSAGES} + 1)], batch_size=500)\n"
        f"Room.objects.filter(pk=room.pk).update(last_seq={HISTORY_MESSAGES}); print('ok')"
    )
    yield cluster, room, key
    cluster.stop()
    cluster.assert_no_tracebacks()


async def page_through(client, room: str, pages: int, *, first: int, on_page=None) -> None:
    """Fetch `pages` history pages of the maximum size, each different (before_seq moves by one)."""
    for i in range(pages):
        before = HISTORY_MESSAGES + 1 - (first + i) % (HISTORY_MESSAGES - PAGE)
        await client.send_checked(
            {"type": "history.fetch", "room": room, "before_seq": before, "limit": PAGE}
        )
        frame = await client.recv_type("history", timeout=30)
        assert len(frame["messages"]) == PAGE
        if on_page is not None:
            on_page(first + i)


@pytest.mark.parametrize("transport", ["websocket", "xhr-streaming"])
async def test_paging_through_a_large_history_keeps_the_node_memory_flat(history_cluster, transport):
    cluster, room, key = history_cluster
    # One node per transport, so that each figure is one cache's.
    node = cluster.nodes[0 if transport == "websocket" else 1]
    if transport == "websocket":
        client = await WsClient.connect(node.port, key)
    else:
        client = await SockJSClient([node.http_url], key, transport="xhr_streaming").open()
        assert client.opened.is_set()
    start = rss_kib(node.process.pid)
    # Warm up (imports, allocator arenas, the database connection), then measure over 300 pages,
    # each a distinct 1.2 MB frame: enough to fill a 128- or 256-entry cache of whole frames.
    await page_through(client, room, 40, first=0)
    warm = rss_kib(node.process.pid)
    peak = warm

    def sample(_: int) -> None:
        nonlocal peak
        peak = max(peak, rss_kib(node.process.pid))

    await page_through(client, room, 300, first=40, on_page=sample)
    end = rss_kib(node.process.pid)
    print(
        f"{transport}: RSS before paging {start} KiB, after warm-up {warm} KiB, peak {peak} KiB, after 300 pages {end} KiB"
    )
    await client.close()
    assert end - warm < 40 * 1024, f"RSS grew {warm} -> {end} KiB"
    assert peak - warm < 60 * 1024, f"RSS peaked {warm} -> {peak} KiB"


# --- caps on a cluster with small limits -------------------------------------------------------

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0


SOCKETS = 3
SOCKJS_SESSIONS = 2
SLOT_TTL = 4  # CHAT_PRESENCE_TTL: a crashed node's slots are free after this


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(
        tmp_path_factory.mktemp("caps"),
        CHAT_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        CHAT_BODY_TIMEOUT=str(BODY_TIMEOUT),
        CHAT_MAX_SOCKETS_PER_USER=str(SOCKETS),
        CHAT_MAX_SOCKJS_SESSIONS_PER_USER=str(SOCKJS_SESSIONS),
        CHAT_PRESENCE_TTL=str(SLOT_TTL),
        CHAT_PRESENCE_HEARTBEAT="1",
    )
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


async def trickle(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], head: bytes, *, byte: bytes, limit: float
) -> tuple[bytes, float]:
    """Send `head`, then one `byte` every 0.3 s until the server closes the connection (or `limit`
    seconds pass); returns what the server sent and how long the connection lasted after `head`."""
    reader, writer = connection
    start = time.monotonic()
    writer.write(head)
    received = b""
    try:
        while time.monotonic() - start < limit:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), 0.3)
            except TimeoutError:
                writer.write(byte)
                continue
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    lasted = time.monotonic() - start
    writer.close()
    return received, lasted


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    return head + await asyncio.wait_for(reader.readexactly(length), 10)


async def test_a_client_that_trickles_its_headers_is_dropped_after_the_header_timeout(cluster):
    connection = await asyncio.open_connection("127.0.0.1", cluster.nodes[0].port)
    head = b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    received, lasted = await trickle(connection, head, byte=b"a", limit=8 * HEADER_TIMEOUT)
    print(f"header trickle: closed after {lasted:.2f} s, got {received[:40]!r}")
    assert received.startswith(b"HTTP/1.1 408 ")
    assert HEADER_TIMEOUT - 0.2 < lasted < HEADER_TIMEOUT + 2


async def test_a_client_that_trickles_its_body_is_dropped_after_the_body_timeout(cluster):
    connection = await asyncio.open_connection("127.0.0.1", cluster.nodes[1].port)
    head = (
        b"POST /sockjs/000/trickle/xhr_send HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Origin: http://127.0.0.1\r\nContent-Length: 1000\r\n\r\n["
    )
    received, lasted = await trickle(connection, head, byte=b" ", limit=8 * BODY_TIMEOUT)
    print(f"body trickle: closed after {lasted:.2f} s, got {received[:40]!r}")
    assert received.startswith(b"HTTP/1.1 408 ")
    assert BODY_TIMEOUT - 0.2 < lasted < BODY_TIMEOUT + 2


async def test_a_kept_alive_connection_may_idle_between_requests_but_not_trickle_the_next_one(cluster):
    reader, writer = await asyncio.open_connection("127.0.0.1", cluster.nodes[0].port)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    writer.write(request)
    assert (await read_response(reader)).startswith(b"HTTP/1.1 200 ")
    await asyncio.sleep(2 * HEADER_TIMEOUT)  # idle past the header deadline: still open
    writer.write(request)
    assert (await read_response(reader)).startswith(b"HTTP/1.1 200 ")
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    received, lasted = await trickle((reader, writer), head, byte=b"a", limit=8 * HEADER_TIMEOUT)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert HEADER_TIMEOUT - 0.2 < lasted < HEADER_TIMEOUT + 2


async def test_sockets_and_streams_outlive_the_request_deadlines(cluster):
    [(_, key)] = cluster.make_sessions(1, "longlived")
    node = cluster.nodes[0]
    ws = await WsClient.connect(node.port, key)
    stream = SockJSClient([node.http_url], key, transport="xhr_streaming")
    # A first request, so that the stream is the second one on a kept-alive connection (the header
    # deadline restarts when a response ends, and must stop when the next request's headers are in).
    assert (await stream.http.get(node.http_url + "/healthz")).status_code == 200
    await stream.open()
    assert stream.opened.is_set()
    await asyncio.sleep(2 * max(HEADER_TIMEOUT, BODY_TIMEOUT) + 1)  # past every deadline
    assert not stream.closed.done()
    await ws.send({"type": "ping"})
    assert (await ws.recv())["type"] == "pong"
    await stream.send_checked({"type": "ping"})
    assert (await stream.recv_type("pong"))["type"] == "pong"
    assert not stream.closed.done()
    await ws.close()
    await stream.close()


# --- connections per user ------------------------------------------------------------------------


async def open_socket(port: int, key: str) -> WsClient | int:
    """A /ws/ socket if the server keeps it (it answers a ping), else the code it was closed with."""
    client = await WsClient.connect(port, key)
    try:
        await client.send({"type": "ping"})
        await client.recv_type("pong")
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code
    return client


async def open_sockjs_websocket(port: int, key: str):
    """A framed SockJS WebSocket if the server keeps it, else the code of its c[...] frame."""
    connection = await websockets.connect(
        f"ws://127.0.0.1:{port}/sockjs/000/{uuid.uuid4().hex}/websocket",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={key}"},
    )
    assert await asyncio.wait_for(connection.recv(), 5) == "o"
    # A refused session sends c[4409,...] right after "o" and closes: the ping may find the socket
    # closing already, and the close frame is still there to read.
    with contextlib.suppress(websockets.ConnectionClosed):
        await connection.send(json.dumps([json.dumps({"type": "ping"})]))
    frame = await asyncio.wait_for(connection.recv(), 5)
    if frame.startswith("c"):
        await connection.close()
        return json.loads(frame[1:])[0]
    assert json.loads(json.loads(frame[1:])[0]) == {"type": "pong"}
    return connection


async def open_sockjs_session(url: str, key: str) -> SockJSClient | tuple:
    """An xhr-streaming SockJS session if the server keeps it, else its close frame (code, reason)."""
    client = await SockJSClient([url], key, transport="xhr_streaming").open()
    assert client.opened.is_set()
    await client.send_checked({"type": "ping"})
    pong = asyncio.ensure_future(client.recv_type("pong", timeout=10))
    await asyncio.wait({pong, client.closed}, return_when=asyncio.FIRST_COMPLETED)
    if client.closed.done():
        pong.cancel()
        await client.close()
        return client.closed.result()
    return client


async def eventually(attempt, *, timeout: float):
    """Call attempt() until it returns something other than a refusal (an int or tuple)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await attempt()
        if not isinstance(result, int | tuple):
            return result
        assert time.monotonic() < deadline, f"still refused after {timeout} s: {result}"
        await asyncio.sleep(0.2)


async def test_a_user_holds_at_most_the_socket_cap_on_both_nodes_together(cluster):
    [(_, key), (_, other_key)] = cluster.make_sessions(2, "sockets")
    ports = [node.port for node in cluster.nodes]
    held = [await open_socket(ports[0], key), await open_socket(ports[1], key)]
    held.append(await open_sockjs_websocket(ports[1], key))  # SockJS' WebSocket counts as a socket
    assert not any(isinstance(h, int) for h in held), held
    # Past the TTL: the nodes refresh their slots, which still count.
    await asyncio.sleep(SLOT_TTL + 1)
    assert await open_socket(ports[0], key) == 4409
    assert await open_socket(ports[1], key) == 4409
    assert await open_sockjs_websocket(ports[0], key) == 4409
    other = await open_socket(ports[1], other_key)  # another user is not affected
    assert not isinstance(other, int)
    # A closed socket gives its slot back at once, to a connection on the other node.
    await held.pop(0).close()
    replacement = await eventually(lambda: open_socket(ports[1], key), timeout=5)
    assert await open_socket(ports[0], key) == 4409
    for client in [*held, replacement, other]:
        await client.close()


async def test_sockjs_sessions_have_their_own_cap_on_both_nodes_together(cluster):
    [(_, key)] = cluster.make_sessions(1, "sessions")
    urls = [node.http_url for node in cluster.nodes]
    held = [await open_sockjs_session(urls[0], key), await open_sockjs_session(urls[1], key)]
    assert not any(isinstance(h, tuple) for h in held), held
    assert await open_sockjs_session(urls[0], key) == (4409, "Too many connections")
    assert await open_sockjs_session(urls[1], key) == (4409, "Too many connections")
    socket = await open_socket(cluster.nodes[0].port, key)  # sockets are counted apart
    assert not isinstance(socket, int)
    # Closing the session (the client aborts its request) gives the slot back.
    await held.pop(0).close()
    replacement = await eventually(lambda: open_sockjs_session(urls[1], key), timeout=10)
    for client in [*held, replacement, socket]:
        await client.close()


async def test_the_slots_of_a_crashed_node_are_free_again_within_the_ttl(cluster):
    [(_, key)] = cluster.make_sessions(1, "crash")
    node1, node2 = cluster.nodes
    held = [await open_socket(node2.port, key) for _ in range(SOCKETS)]
    assert not any(isinstance(h, int) for h in held), held
    assert await open_socket(node1.port, key) == 4409
    node2.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    try:
        survivor = await eventually(lambda: open_socket(node1.port, key), timeout=SLOT_TTL + 5)
        freed_after = time.monotonic() - killed_at
        print(f"slots of the killed node free after {freed_after:.1f} s (TTL {SLOT_TTL} s)")
        assert freed_after <= SLOT_TTL + 2
        await survivor.close()
    finally:
        node2.start()


# --- rooms created per user ----------------------------------------------------------------------

ROOMS_PER_WINDOW = 3
ROOM_WINDOW = 6


@pytest.fixture(scope="module", params=DATABASES)
def room_cluster(request, tmp_path_factory):
    """Two nodes with a small room-creation limit, on SQLite and on a real PostgreSQL."""
    with cluster_on(
        request.param,
        tmp_path_factory.mktemp(f"rooms-{request.param}"),
        CHAT_ROOM_CREATE_LIMIT=str(ROOMS_PER_WINDOW),
        CHAT_ROOM_CREATE_WINDOW=str(ROOM_WINDOW),
    ) as cluster:
        yield cluster


def post_room(http: HttpUser, title: str) -> httpx.Response:
    """The lobby's create-a-room form, as a browser posts it."""
    return http._post_form("/", {"title": title, "description": ""})


def rooms_titled(cluster: Cluster, prefix: str) -> int:
    code = f"from chat.models import Room; print(Room.objects.filter(title__startswith={prefix!r}).count())"
    return int(cluster.django(code))


async def test_a_user_creates_at_most_the_room_cap_per_window_through_both_nodes(room_cluster):
    cluster = room_cluster
    name, http = new_user(cluster, node=0)
    other_name, other = new_user(cluster, node=1)
    watcher = await connect(cluster, other, 1)
    nodes = [HttpUser(node.http_url) for node in cluster.nodes]
    for client in nodes:
        client.client.cookies = http.client.cookies
    answers = [post_room(nodes[i % 2], f"{name} room {i}") for i in range(ROOMS_PER_WINDOW + 2)]
    assert [a.status_code for a in answers] == [302] * ROOMS_PER_WINDOW + [429, 429]
    assert "too many rooms recently" in answers[-1].text
    assert 'class="errorlist nonfield"' in answers[-1].text  # shown as the form's error
    assert rooms_titled(cluster, f"{name} room") == ROOMS_PER_WINDOW
    assert post_room(other, f"{other_name} room").status_code == 302  # another user is not limited
    # Only the stored rooms were announced.
    announced = []
    while len(announced) < ROOMS_PER_WINDOW + 1:
        announced.append((await watcher.recv_type("room.created"))["room"]["title"])
    assert sorted(announced) == sorted(
        [*(f"{name} room {i}" for i in range(ROOMS_PER_WINDOW)), f"{other_name} room"]
    )
    with pytest.raises(asyncio.TimeoutError):
        await watcher.recv_type("room.created", timeout=1)
    # Once the window has passed, the user may create rooms again.
    start = time.monotonic()
    while (answer := post_room(nodes[1], f"{name} later")).status_code == 429:
        assert time.monotonic() - start < ROOM_WINDOW + 5
        await asyncio.sleep(0.5)
    assert answer.status_code == 302
    await watcher.close()


async def test_concurrent_room_creations_of_one_user_on_both_nodes_stay_within_the_cap(room_cluster):
    cluster = room_cluster
    name, http = new_user(cluster, node=0)
    token = CSRF_RE.search(http.client.get("/").text).group(1)

    async def create(i: int) -> int:
        node = cluster.nodes[i % 2]
        async with httpx.AsyncClient(
            base_url=node.http_url, cookies=http.client.cookies, timeout=30
        ) as client:
            response = await client.post(
                "/", data={"title": f"{name} rush {i}", "description": "", "csrfmiddlewaretoken": token}
            )
            return response.status_code

    statuses = await asyncio.gather(*(create(i) for i in range(12)))
    print(f"12 concurrent creations: {sorted(statuses)}")
    assert sorted(statuses) == [302] * ROOMS_PER_WINDOW + [429] * (12 - ROOMS_PER_WINDOW)
    assert rooms_titled(cluster, f"{name} rush") == ROOMS_PER_WINDOW
