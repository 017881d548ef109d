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
    cluster = start_cluster(tmp_path_factory.mktemp("browser"))
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
    return page.locator("#messages li.message:not(.pending) .body").all_text_contents()


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
        "from chat.domain import services; from chat.models import Room\n"
        f"services.room_set_archived(room=Room.objects.get(slug='{slug}'), archived=True); print('ok')"
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
    playwright_api.expect(a.locator(f'#rooms li[data-slug="{there}"] .badge')).to_have_text("1")
    assert a.title().startswith("(1) ")
    a.context.close()


def test_korean_is_shown_to_a_korean_browser(browser, cluster):
    [(_, key)] = cluster.make_sessions(1, "korean")
    page = page_for(browser, cluster, 0, key, locale="ko-KR")
    page.goto("/")
    wait_connected(page)
    playwright_api.expect(page.locator(".sidebar h2")).to_have_text("대화방")
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
        "from chat.domain import services; from chat.models import Room\n"
        f"services.room_set_archived(room=Room.objects.get(slug='{room}'), archived=True); print('ok')"
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
