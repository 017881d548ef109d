"""Resource caps and memory bounds on real processes: a Valkey server and two daphne nodes."""

import asyncio
import time

import pytest

from tests.chatclient import WsClient
from tests.cluster import start_cluster
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
