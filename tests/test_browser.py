"""The web UI in headless Chromium (Debian's package) against a real two-node cluster."""

import asyncio
import concurrent.futures
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from chat.devcluster import BASE_DIR
from chat.testing.clients import WsClient
from chat.testing.cluster import Cluster, start_cluster
from tests.waiting import wait_until_sync

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CHAT_TEST_ARTIFACTS", BASE_DIR / "test-artifacts"))

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

XSS_PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "<svg onload=window.__xss=1>",
    '<a href="javascript:window.__xss=1">click</a>',
    '"><script>window.__xss=1</script>',
    "'><img src=x onerror=window.__xss=1>",
    "<iframe src=javascript:window.__xss=1>",
    "<body onload=window.__xss=1>",
    '<input autofocus onfocus="window.__xss=1">',
    "<details open ontoggle=window.__xss=1>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>",
    "<object data=javascript:window.__xss=1>",
    '<form action="javascript:window.__xss=1"><button>x</button></form>',
    "<video><source onerror=window.__xss=1>",
    "<marquee onstart=window.__xss=1>",
    "{{constructor.constructor('window.__xss=1')()}}",
    "<style>@import 'javascript:window.__xss=1';</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
    '<a href="jav&#x09;ascript:window.__xss=1">tab</a>',
    "@<img src=x onerror=window.__xss=1>",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # The rate limit a new user meets: the production default, 30 messages per 10 s.
    # An open member list asks again every 3 s, not 30 (the default), so a test sees away -> offline soon.
    cluster = start_cluster(
        tmp_path_factory.mktemp("browser"),
        CHAT_RATE_LIMIT_MESSAGES="30",
        CHAT_RATE_LIMIT_WINDOW="10",
        CHAT_MEMBERS_REFRESH="3",
    )
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def page_for(browser, cluster: Cluster, node: int, session_key: str, *, locale: str = "en-US"):
    """A browser context signed in with `session_key`, on one node; console errors are kept."""
    base = cluster.nodes[node].http_url
    context = browser.new_context(base_url=base, locale=locale, viewport={"width": 1100, "height": 750})
    context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return page


def two_users_in_room(browser, cluster: Cluster, title: str, prefix: str):
    """A room, and two signed-in users with its page open and connected: one per node."""
    [room] = cluster.make_rooms([title])
    (name_a, key_a), (name_b, key_b) = cluster.make_sessions(2, prefix)
    a = page_for(browser, cluster, 0, key_a)
    b = page_for(browser, cluster, 1, key_b)
    for page in (a, b):
        page.goto(f"/rooms/{room}/")
        wait_connected(page)
    return room, (name_a, a), (name_b, b)


def wait_connected(page) -> None:
    playwright_api.expect(page.locator("#status")).to_have_attribute(
        "data-state", "connected", timeout=10_000
    )


def send(page, text: str) -> None:
    page.fill("#body", text)
    page.press("#body", "Enter")


def bodies(page) -> list[str]:
    """The room's stored messages shown, in order (not my own still on their way)."""
    return page.locator("#messages li.message:not(.outgoing) .body").all_text_contents()


def run_async(coroutine) -> None:
    """Run a coroutine beside Playwright's sync API, which owns this thread's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_two_users_on_different_nodes_chat_both_ways_within_a_second(browser, cluster):
    _, (name_a, a), (name_b, b) = two_users_in_room(browser, cluster, "Browser chat", "web")
    started = time.monotonic()
    send(a, "hello from node 1")
    playwright_api.expect(b.locator("#messages .body", has_text="hello from node 1")).to_be_visible(
        timeout=1000
    )
    a_to_b = time.monotonic() - started
    started = time.monotonic()
    send(b, f"hi @{name_a}")
    playwright_api.expect(a.locator("#messages .body", has_text="hi @")).to_be_visible(timeout=1000)
    b_to_a = time.monotonic() - started
    playwright_api.expect(a.locator("#messages .mention-me")).to_have_text(f"@{name_a}")
    playwright_api.expect(a.locator("#presence")).to_have_text(", ".join(sorted([name_a, name_b])))
    print(f"delivery in the browser: {a_to_b * 1000:.0f} ms and {b_to_a * 1000:.0f} ms")
    screenshot(a, "room")
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


def test_a_user_whose_node_dies_misses_nothing_and_their_offline_message_is_sent_once(browser, cluster):
    room, (_, a), (_, b) = two_users_in_room(browser, cluster, "Offline", "offline")
    send(a, "before")
    playwright_api.expect(b.locator("#messages .body", has_text="before")).to_be_visible()

    os.kill(cluster.nodes[1].process.pid, signal.SIGKILL)  # B's node dies
    cluster.nodes[1].process = None
    playwright_api.expect(b.locator("#status")).not_to_have_attribute("data-state", "connected", timeout=5000)
    for i in range(3):
        send(a, f"missed {i}")
    send(b, "typed while offline")
    playwright_api.expect(b.locator("#messages li.pending .body")).to_have_text("typed while offline")
    cluster.nodes[1].start()
    wait_connected(b)
    playwright_api.expect(
        b.locator("#messages li.message:not(.pending) .body", has_text="typed while offline")
    ).to_be_visible(timeout=10_000)
    playwright_api.expect(a.locator("#messages .body", has_text="typed while offline")).to_be_visible()
    expected = ["before", "missed 0", "missed 1", "missed 2", "typed while offline"]
    assert bodies(b) == expected
    assert bodies(a) == expected
    assert b.locator("#messages li.pending").count() == 0
    stored = cluster.sql(
        "SELECT COUNT(*) FROM chat_message m JOIN chat_room r ON r.id = m.room_id WHERE r.slug = ?", room
    )
    assert stored == [(5,)]
    a.context.close()
    b.context.close()


def test_without_websocket_a_user_chats_through_the_fallback_and_misses_nothing(browser, cluster):
    [room] = cluster.make_rooms(["Fallback"])
    (name_a, key_a), (name_b, key_b) = cluster.make_sessions(2, "fallback")
    a = page_for(browser, cluster, 0, key_a)
    b = page_for(browser, cluster, 1, key_b)
    # As behind a proxy that blocks WebSocket: the page never sees the API.
    b.context.add_init_script("delete window.WebSocket; delete window.MozWebSocket;")
    for page in (a, b):
        page.goto(f"/rooms/{room}/")
        wait_connected(page)
    assert b.evaluate("typeof window.WebSocket") == "undefined"
    assert a.locator("#status").get_attribute("data-transport") == "websocket"
    assert b.locator("#status").get_attribute("data-transport") == "xhr-streaming"
    send(a, "to the fallback")
    playwright_api.expect(b.locator("#messages .body", has_text="to the fallback")).to_be_visible(
        timeout=2000
    )
    send(b, f"from the fallback @{name_a}")
    playwright_api.expect(a.locator("#messages .body", has_text="from the fallback")).to_be_visible(
        timeout=2000
    )

    os.kill(cluster.nodes[1].process.pid, signal.SIGKILL)  # B's node (and its SockJS session) dies
    cluster.nodes[1].process = None
    playwright_api.expect(b.locator("#status")).not_to_have_attribute("data-state", "connected", timeout=5000)
    for i in range(3):
        send(a, f"missed {i}")
    cluster.nodes[1].start()
    wait_connected(b)
    expected = ["to the fallback", f"from the fallback @{name_a}", "missed 0", "missed 1", "missed 2"]
    playwright_api.expect(b.locator("#messages .body", has_text="missed 2")).to_be_visible(timeout=10_000)
    assert bodies(b) == expected  # each once, in order, after a new session resubscribed with since
    assert b.locator("#status").get_attribute("data-transport") == "xhr-streaming"
    assert name_b in b.locator("header.top").inner_text()
    assert a.errors == [] and b.errors == []
    screenshot(b, "fallback")
    a.context.close()
    b.context.close()


def test_xss_payloads_in_messages_usernames_and_titles_execute_nothing(browser, cluster):
    titles = XSS_PAYLOADS[:5]
    rooms = cluster.make_rooms(["XSS"] + titles)
    room = rooms[0]
    usernames = [p.replace(":", "")[:150] for p in XSS_PAYLOADS]
    keys = [key for _, key in cluster.make_users(usernames)]

    async def post_all() -> None:
        for key, payload in zip(keys, XSS_PAYLOADS, strict=True):
            ws = await WsClient.connect(cluster.nodes[0].port, key)
            await ws.send_message(room, payload, f"x{abs(hash(payload))}")
            await ws.close()

    run_async(post_all())
    [(_, viewer_key)] = cluster.make_sessions(1, "viewer")
    page = page_for(browser, cluster, 1, viewer_key)
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    playwright_api.expect(page.locator("#messages li.message")).to_have_count(len(XSS_PAYLOADS))
    # A payload that got into the page as HTML would run on an event: most fire at once, an
    # image's error after a round trip to the server. Wait for such a round trip of our own,
    # started once every message is shown, rather than for a fixed time.
    page.evaluate(
        """() => new Promise((resolve) => {
            const probe = new Image();
            probe.onerror = probe.onload = resolve;
            probe.src = "x?after-the-messages";
        })"""
    )
    # Bodies are Markdown, rendered by the server: a character reference (&#x09;) shows as its character.
    assert bodies(page) == [p.replace("&#x09;", "\t") for p in XSS_PAYLOADS]
    authors = page.locator("#messages li.message .author").all_text_contents()
    assert authors == usernames
    sidebar = page.locator("#rooms .room-title").all_text_contents()
    for title in titles:
        assert title in sidebar
    assert page.evaluate("window.__xss") is None
    assert page.errors == []
    screenshot(page, "xss")
    page.context.close()


def test_the_lobby_updates_live_when_an_admin_creates_or_archives_a_room(browser, cluster):
    [(_, key)] = cluster.make_sessions(1, "lobby")
    page = page_for(browser, cluster, 0, key)
    page.goto("/")
    wait_connected(page)
    [slug] = cluster.make_rooms(["Made by the admin"])  # through the services, like the admin
    item = page.locator(f'#rooms li[data-slug="{slug}"]')
    playwright_api.expect(item).to_contain_text("Made by the admin", timeout=3000)
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_set_archived(room_slug='{slug}', actor=None, archived=True, as_admin=True); print('ok')"
    )
    playwright_api.expect(item.locator(".tag")).to_have_text("archived", timeout=3000)
    screenshot(page, "lobby")
    assert page.errors == []
    page.context.close()


def test_a_mention_in_another_room_shows_a_toast(browser, cluster):
    here, there = cluster.make_rooms(["Here", "There"])
    (name_a, key_a), (_, key_b) = cluster.make_sessions(2, "toast")
    a = page_for(browser, cluster, 0, key_a)
    a.goto(f"/rooms/{here}/")
    wait_connected(a)
    # A room first seen with messages in it counts them as history, not unread: wait until the
    # page knows "There" (and so watches it) before the mention is sent.
    playwright_api.expect(a.locator(f'#rooms li[data-slug="{there}"]')).to_be_visible(timeout=3000)

    async def mention() -> None:
        ws = await WsClient.connect(cluster.nodes[1].port, key_b)
        await ws.send_message(there, f"ping @{name_a}", "toast1")
        await ws.close()

    run_async(mention())
    playwright_api.expect(a.locator(".toast")).to_contain_text(f"ping @{name_a}", timeout=3000)
    # A public room never read counts its mentions only (docs/protocol.md, `read`): the red badge.
    playwright_api.expect(a.locator(f'#rooms li[data-slug="{there}"] .mention-badge')).to_have_text("@1")
    assert a.title().startswith("(1) ")
    a.context.close()


def test_korean_is_shown_to_a_korean_browser(browser, cluster):
    [(_, key)] = cluster.make_sessions(1, "korean")
    page = page_for(browser, cluster, 0, key, locale="ko-KR")
    page.goto("/")
    wait_connected(page)
    playwright_api.expect(page.locator(".sidebar > h2")).to_have_text("대화방")
    playwright_api.expect(page.locator("#status")).to_have_text("연결됨")
    screenshot(page, "lobby-ko")
    page.context.close()


def test_scroll_back_loads_older_pages_and_admin_changes_show_live(browser, cluster):
    [room] = cluster.make_rooms(["Long room"])
    [(name, key)] = cluster.make_sessions(1, "scroll")
    cluster.django(
        "from chat.domain import services; from chat.models import Room; from django.contrib.auth import get_user_model\n"
        f"room = Room.objects.get(slug='{room}'); user = get_user_model().objects.get(username='{name}')\n"
        "for i in range(120): services.message_create(room=room, author=user, body=f'old {i}', client_msg_id=f'old-{i}')\n"
        "print('ok')"
    )
    page = page_for(browser, cluster, 0, key)
    response = page.goto(f"/rooms/{room}/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    wait_connected(page)
    messages = page.locator("#messages li.message")
    playwright_api.expect(messages).to_have_count(50)
    for expected in (100, 120):
        page.locator("#scroller").evaluate(
            "el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }"
        )
        playwright_api.expect(messages).to_have_count(expected)
    assert bodies(page) == [f"old {i}" for i in range(120)]
    playwright_api.expect(page.locator("#history-status")).to_have_text("This is the beginning of the room.")
    cluster.django(
        "from chat.domain import message_changes; from chat.models import Message\n"
        f"message_changes.message_delete(message=Message.objects.get(room__slug='{room}', seq=120)); print('ok')"
    )
    deleted = page.locator('#messages li[data-seq="120"]')  # in place, as "message deleted"
    playwright_api.expect(deleted.locator(".body")).to_have_text("message deleted")
    playwright_api.expect(deleted).to_have_class(re.compile(r"\bdeleted\b"))
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_set_archived(room_slug='{room}', actor=None, archived=True, as_admin=True); print('ok')"
    )
    playwright_api.expect(page.locator("#body")).to_be_disabled()
    playwright_api.expect(page.locator("#archived-note")).to_be_visible()
    assert page.errors == []
    page.context.close()


def test_the_room_is_usable_at_phone_width(browser, cluster):
    [room] = cluster.make_rooms(["Phone"])
    [(_, key)] = cluster.make_sessions(1, "phone")
    page = page_for(browser, cluster, 1, key)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    send(page, "from a phone")
    playwright_api.expect(page.locator("#messages li.message .body")).to_have_text("from a phone")
    composer = page.locator("#composer").bounding_box()
    assert composer["x"] >= 0 and composer["x"] + composer["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    screenshot(page, "room-phone")
    page.context.close()


@pytest.fixture
def crowded_cluster(tmp_path):
    """A cluster of its own: the rooms below would crowd every other test's sidebar."""
    cluster = start_cluster(tmp_path / "crowded")
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


# Counts the error frames a page receives, from its first frame on.
RECORD_ERRORS = """
let chatClientClass;
window.__errors = [];
Object.defineProperty(window, "ChatClient", {
  configurable: true,
  get() { return chatClientClass; },
  set(value) {
    chatClientClass = value;
    const receive = value.prototype.receive;
    value.prototype.receive = function (frame) {
      if (frame.type === "error") window.__errors.push(frame.code);
      return receive.call(this, frame);
    };
  },
});
"""


def test_more_rooms_than_a_connection_may_follow_leave_the_busy_rooms_followed(browser, crowded_cluster):
    cluster = crowded_cluster
    here, busy = cluster.make_rooms(["Open here", "Talk"])
    # A flood of rooms whose titles sort before the others, more than the 200 subscriptions a
    # connection may hold: the page used to follow rooms in list order and lost the later ones.
    cluster.make_rooms([f"Flood {i}" for i in range(230)])
    (_, key_a), (_, key_b) = cluster.make_sessions(2, "crowd")

    async def post(body: str, msg_id: str) -> None:
        ws = await WsClient.connect(cluster.nodes[1].port, key_b)
        await ws.send_message(busy, body, msg_id)
        await ws.close()

    async def read_all() -> None:  # a room read once counts what comes after (docs/protocol.md, `read`)
        ws = await WsClient.connect(cluster.nodes[0].port, key_a)
        await ws.send({"type": "read", "room": busy, "seq": 1})
        await ws.recv_type("read.updated")
        await ws.close()

    run_async(post("earlier", "crowd-1"))
    run_async(read_all())
    page = page_for(browser, cluster, 0, key_a)
    page.add_init_script(RECORD_ERRORS)
    page.goto(f"/rooms/{here}/")
    wait_connected(page)
    playwright_api.expect(page.locator("#rooms li[data-slug]")).to_have_count(232, timeout=10_000)
    # Polled from here: wait_for_function's string predicate is eval'd in the page, which its CSP forbids.
    wait_until_sync(
        lambda: page.evaluate(f"window.chatClient.rooms.has({busy!r})"),
        f"the page follows {busy}",
        timeout=10,
    )
    cluster.make_rooms([f"Flood later {i}" for i in range(20)])  # announced live while the page is open
    playwright_api.expect(page.locator("#rooms li[data-slug]")).to_have_count(252, timeout=10_000)
    run_async(post("new", "crowd-2"))
    playwright_api.expect(page.locator(f'#rooms li[data-slug="{busy}"] .badge')).to_have_text("1")
    send(page, "the open room still works")
    playwright_api.expect(
        page.locator("#messages li.message:not(.pending) .body", has_text="the open room still works")
    ).to_be_visible()
    assert page.evaluate("window.chatClient.rooms.size") <= 101  # the open room and 100 others
    assert page.evaluate("window.__errors") == []


# --- the outbox: no typed message is lost (issue #16, item 10) ------------------------------------

STORED_BODIES = (
    "SELECT m.body FROM chat_message m JOIN chat_room r ON r.id = m.room_id "
    "JOIN auth_user u ON u.id = m.author_id WHERE r.slug = ? AND u.username = ? ORDER BY m.seq"
)


def outbox_keys(page) -> list[str]:
    return page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('chat:outbox:'))")


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_33_messages_typed_in_10_seconds_are_all_stored_in_order_and_shown_sent_without_a_reconnect(
    browser, cluster
):
    [room] = cluster.make_rooms(["Fast typist"])
    [(name, key)] = cluster.make_sessions(1, "typist")
    page = page_for(browser, cluster, 0, key)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    page.evaluate(
        "() => { window.__opens = 0; window.__refused = [];"
        " chatClient.on('open', () => { window.__opens += 1; });"
        " chatClient.on('error', (f) => { window.__refused.push([f.code, f.retry_after]); }); }"
    )
    typed = [f"message {i:02d}" for i in range(33)]
    started = time.monotonic()
    for i, text in enumerate(typed):
        # A brisk typist: one message every 0.25 s (the pace, not a wait for the system under test).
        page.wait_for_timeout(max(0, (started + 0.25 * i - time.monotonic()) * 1000))
        send(page, text)
    typing_took = time.monotonic() - started
    assert typing_took < 10, f"typing took {typing_took:.1f} s: the window slid, nothing to test"
    toast = page.locator("#toasts .toast")
    playwright_api.expect(toast).to_contain_text("You are sending too fast", timeout=5000)
    assert overlaps(toast.bounding_box(), page.locator("#composer").bounding_box()) is False
    screenshot(page, "rate-limited-1280-en")
    # The refused ones go out after retry_after (at most the 10 s window), in order, on this socket.
    playwright_api.expect(page.locator("#messages li.outgoing")).to_have_count(0, timeout=20_000)
    all_sent = time.monotonic() - started
    assert bodies(page) == typed
    assert cluster.sql(STORED_BODIES, room, name) == [(text,) for text in typed]
    refused = page.evaluate("window.__refused")
    assert refused and {code for code, _ in refused} == {"rate_limited"}
    assert all(0 < wait <= 10 for _, wait in refused), refused
    assert page.evaluate("window.__opens") == 0  # no reconnect was needed
    assert page.locator("#status").get_attribute("data-state") == "connected"
    assert page.locator("#messages .state", has_text="sending").count() == 0
    assert outbox_keys(page) == []
    print(
        f"33 typed in {typing_took:.1f} s, all stored in order {all_sent:.1f} s after the first; refused {refused}"
    )
    assert page.errors == []
    page.context.close()


class SockJSGate:
    """A network between the page and the server that the test controls: open, closed (every
    /sockjs/ request and socket refused), or dropping the server's acks (stored, never confirmed)."""

    ROUTE = re.compile(r"/sockjs/")

    def __init__(self, context) -> None:
        self.open = True
        self.drop_acks = False
        self.sockets: list = []
        context.route(self.ROUTE, self._http)
        context.route_web_socket(self.ROUTE, self._socket)

    def _http(self, route) -> None:
        if self.open:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    def _socket(self, ws) -> None:
        if not self.open:
            ws.close(code=1011, reason="gate closed")
            return
        server = ws.connect_to_server()
        server.on_message(
            lambda message: None if self.drop_acks and "message.ack" in message else ws.send(message)
        )
        self.sockets += [ws, server]

    def close(self) -> None:
        """Refuse new connections and drop the open ones (both ends)."""
        self.open = False
        for ws in self.sockets:
            ws.close(code=1011, reason="gate closed")
        self.sockets.clear()


def test_messages_typed_while_the_server_is_unreachable_are_sent_once_after_a_reload_by_their_author_only(
    browser, cluster
):
    [room] = cluster.make_rooms(["Outbox"])
    (name_a, key_a), (name_b, key_b) = cluster.make_sessions(2, "outbox")
    page = page_for(browser, cluster, 0, key_a)
    gate = SockJSGate(page.context)
    page.goto(f"/rooms/{room}/")
    wait_connected(page)

    # The first message is stored but its ack never arrives (as when the connection dies just then).
    gate.drop_acks = True
    send(page, "stored, ack lost")
    playwright_api.expect(page.locator("#messages li.message:not(.outgoing)")).to_have_count(1)
    assert cluster.sql(STORED_BODIES, room, name_a) == [("stored, ack lost",)]
    gate.close()
    playwright_api.expect(page.locator("#status")).not_to_have_attribute("data-state", "connected")
    for text in ("typed offline 1", "typed offline 2"):
        send(page, text)
    # Its broadcast came through, so the page shows it stored; the outbox still holds it, unacked.
    playwright_api.expect(page.locator("#messages li.pending")).to_have_count(2)
    assert len(outbox_keys(page)) == 3

    page.reload()  # still unreachable: the page shows what waits to be sent
    pending = page.locator("#messages li.pending .body")
    playwright_api.expect(pending).to_have_text(["stored, ack lost", "typed offline 1", "typed offline 2"])
    playwright_api.expect(page.locator("#messages li.pending .state").first).to_have_text("sending…")

    # Another user on this browser does not send them.
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "sessionid", "value": key_b, "url": cluster.nodes[0].http_url}])
    gate.open, gate.drop_acks = True, False
    page.reload()
    wait_connected(page)
    assert page.locator("#messages li.outgoing").count() == 0
    send(page, "from B")  # acked only after anything queued before it in this room
    playwright_api.expect(page.locator("#messages li.message:not(.outgoing) .body")).to_have_text(
        ["stored, ack lost", "from B"]
    )
    assert cluster.sql(STORED_BODIES, room, name_b) == [("from B",)]
    assert cluster.sql(STORED_BODIES, room, name_a) == [("stored, ack lost",)]
    assert len(outbox_keys(page)) == 3  # still kept, for their author

    # Their author comes back: each is stored exactly once, in order, and shown as sent.
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "sessionid", "value": key_a, "url": cluster.nodes[0].http_url}])
    page.reload()
    wait_connected(page)
    playwright_api.expect(page.locator("#messages li.outgoing")).to_have_count(0, timeout=10_000)
    assert bodies(page) == ["stored, ack lost", "from B", "typed offline 1", "typed offline 2"]
    assert cluster.sql(STORED_BODIES, room, name_a) == [
        ("stored, ack lost",),
        ("typed offline 1",),
        ("typed offline 2",),
    ]
    assert outbox_keys(page) == []
    page.context.close()


def mention_from(cluster, key: str, room: str, body: str) -> None:
    async def mention() -> None:
        ws = await WsClient.connect(cluster.nodes[1].port, key)
        await ws.send_message(room, body, f"mention-{abs(hash(body))}")
        await ws.close()

    run_async(mention())


def fill_rate_window(cluster, username: str, room: str) -> None:
    """Give the user 30 messages of the last few seconds: their next send is rate limited."""
    cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import services; "
        "from chat.models import Room\n"
        f"user = get_user_model().objects.get(username={username!r}); room = Room.objects.get(slug={room!r})\n"
        "for i in range(30): services.message_create(room=room, author=user, body=f'earlier {i}', "
        "client_msg_id=f'earlier-{i}')\n"
        "print('ok')"
    )


@pytest.mark.parametrize(
    ("width", "height", "locale"),
    [(1280, 800, "en-US"), (1280, 800, "ko-KR"), (390, 844, "en-US"), (390, 844, "ko-KR")],
    ids=["desktop-en", "desktop-ko", "phone-en", "phone-ko"],
)
def test_one_toast_at_a_time_shows_above_the_room_and_never_covers_the_composer(
    browser, cluster, width, height, locale
):
    here, there = cluster.make_rooms([f"Here {width} {locale}", f"There {width} {locale}"])
    (name_a, key_a), (_, key_b) = cluster.make_sessions(2, f"toast{width}{locale[:2]}")
    page = page_for(browser, cluster, 0, key_a, locale=locale)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"/rooms/{here}/")
    wait_connected(page)
    playwright_api.expect(page.locator(f'#rooms li[data-slug="{there}"]')).to_be_attached(timeout=3000)
    toast = page.locator("#toasts .toast")
    composer = page.locator("#composer")
    long_tail = " and a long message that wraps over several lines of the toast" * 4

    mention_from(cluster, key_b, there, f"first @{name_a}{long_tail}")
    playwright_api.expect(toast).to_contain_text("first @", timeout=3000)
    assert not overlaps(toast.bounding_box(), composer.bounding_box())

    fill_rate_window(cluster, name_a, here)
    send(page, "one too many")  # refused: the rate-limit toast replaces the mention's
    expected = "너무 빨리 보내고 있습니다" if locale == "ko-KR" else "You are sending too fast"
    playwright_api.expect(toast).to_contain_text(expected, timeout=3000)
    assert toast.count() == 1
    assert not overlaps(toast.bounding_box(), composer.bounding_box())
    screenshot(page, f"toast-rate-limited-{width}-{locale[:2]}")

    mention_from(cluster, key_b, there, f"second @{name_a}{long_tail}")
    playwright_api.expect(toast).to_contain_text("second @", timeout=3000)
    assert toast.count() == 1
    for part in ("#body", "#composer button[type=submit]"):
        assert not overlaps(toast.bounding_box(), page.locator(part).bounding_box()), part
    assert toast.bounding_box()["y"] + toast.bounding_box()["height"] <= composer.bounding_box()["y"]
    screenshot(page, f"toast-mention-{width}-{locale[:2]}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.errors == []
    page.context.close()


def test_a_click_on_send_while_a_mention_toast_shows_sends_and_clicking_the_toast_keeps_the_draft(
    browser, cluster
):
    here, there = cluster.make_rooms(["Draft here", "Draft there"])
    (name_a, key_a), (_, key_b) = cluster.make_sessions(2, "draft")
    page = page_for(browser, cluster, 0, key_a)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/rooms/{here}/")
    wait_connected(page)
    playwright_api.expect(page.locator(f'#rooms li[data-slug="{there}"]')).to_be_attached(timeout=3000)
    mention_from(cluster, key_b, there, f"look @{name_a}")
    toast = page.locator("#toasts .toast")
    playwright_api.expect(toast).to_be_visible(timeout=3000)

    page.fill("#body", "sent with the mouse")
    # A click where the user sees Send, whatever is on top there (Playwright's click() would wait
    # for the toast to go away).
    button = page.locator("#composer button[type=submit]").bounding_box()
    playwright_api.expect(toast).to_be_visible()
    page.mouse.click(button["x"] + button["width"] / 2, button["y"] + button["height"] / 2)
    playwright_api.expect(page.locator("#messages li.message .body")).to_have_text("sent with the mouse")
    assert page.url.endswith(f"/rooms/{here}/")

    page.fill("#body", "a draft in progress")
    mention_from(cluster, key_b, there, f"again @{name_a}")
    playwright_api.expect(toast).to_contain_text("again @", timeout=3000)
    toast.click()  # opens the other room
    page.wait_for_url(f"**/rooms/{there}/")
    wait_connected(page)
    playwright_api.expect(page.locator("#body")).to_have_value("")  # each room has its own draft
    page.go_back()
    wait_connected(page)
    playwright_api.expect(page.locator("#body")).to_have_value("a draft in progress")
    assert page.errors == []
    page.context.close()


def test_a_user_who_can_see_more_rooms_than_the_subscription_cap_stays_connected(browser, tmp_path):
    """The UI subscribes to every room it lists; past the server's 200 it would be refused, and more
    than 20 refused frames within 10 s close the connection (4429) again after every reconnect."""
    cluster = start_cluster(tmp_path / "many-rooms", nodes=1)
    try:
        rooms = cluster.make_rooms([f"Many {n}" for n in range(230)])
        [(_, key)] = cluster.make_sessions(1, "many")
        page = page_for(browser, cluster, 0, key)
        page.goto(f"/rooms/{rooms[0]}/")
        wait_connected(page)
        playwright_api.expect(page.locator("#rooms li")).to_have_count(230, timeout=10_000)
        send(page, "still connected")
        playwright_api.expect(page.locator("#messages li.message:not(.pending) .body")).to_have_text(
            "still connected", timeout=5_000
        )
        assert "closing a connection" not in cluster.logs()
        assert page.errors == []
        page.context.close()
    finally:
        cluster.stop()
    cluster.assert_no_tracebacks()
