"""The tutorials' minimal STOMP client (/stomp-demo/: stompjs 2.3 over sockjs-client, vendored) in
headless Chromium, chatting with a user of the web UI (/ws/) on the other node."""

import pytest

from chat.devcluster import BASE_DIR
from chat.testing.cluster import start_cluster
from tests.stomp_driver import NODE_DIR, ensure_npm_packages
from tests.test_browser import browser, page_for, send, wait_connected  # noqa: F401 (a fixture)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.cluster, pytest.mark.browser]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(tmp_path_factory.mktemp("stomp-browser"))
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def test_the_stomp_demo_page_chats_with_a_ws_user_on_the_other_node(browser, cluster):  # noqa: F811
    [room] = cluster.make_rooms(["Stomp demo"])
    (name_a, key_a), (name_b, key_b) = cluster.make_sessions(2, "stompdemo")
    a = page_for(browser, cluster, 0, key_a)
    console: list[str] = []
    a.on(
        "console", lambda message: console.append(f"{message.type}: {message.text} {message.location['url']}")
    )
    b = page_for(browser, cluster, 1, key_b)
    b.goto(f"/rooms/{room}/")
    wait_connected(b)
    a.goto(f"/stomp-demo/?room={room}")
    wait_connected(a)
    a.fill("#text", "hello from the tutorial page")
    a.press("#text", "Enter")
    expect(b.locator("#messages .body", has_text="hello from the tutorial page")).to_be_visible(
        timeout=10_000
    )
    send(b, "and hello back over /ws/")
    expect(a.locator("#messages li", has_text=f"{name_b}: and hello back over /ws/")).to_be_visible(
        timeout=10_000
    )
    expect(a.locator("#messages li", has_text=f"{name_a}: hello from the tutorial page")).to_have_count(1)
    assert a.errors == [] and b.errors == []
    errors = [line for line in console if line.startswith("error") and not line.endswith("/favicon.ico")]
    assert not errors and not [line for line in console if "Content Security Policy" in line]
    a.context.close()
    b.context.close()


def test_the_stomp_demo_page_uses_the_public_topic_without_a_room_and_404s_an_unknown_room(
    browser,  # noqa: F811
    cluster,
):
    [(name, key)] = cluster.make_sessions(1, "stomppublic")
    page = page_for(browser, cluster, 1, key, locale="ko-KR")
    page.goto("/stomp-demo/")
    wait_connected(page)
    page.fill("#text", "public hello")
    page.press("#text", "Enter")
    expect(page.locator("#messages li", has_text=f"{name}: public hello")).to_be_visible(timeout=10_000)
    expect(page.locator("#status")).to_have_text("연결됨")
    assert page.goto("/stomp-demo/?room=no-such-room").status == 404
    assert page.errors == []
    page.context.close()


def test_the_vendored_stompjs_is_the_npm_packages_file_unchanged_with_its_license_header():
    ensure_npm_packages()
    vendored = (BASE_DIR / "chat/static/chat/vendor/stomp.min.js").read_bytes()
    assert vendored == (NODE_DIR / "node_modules/stompjs/lib/stomp.min.js").read_bytes()
    assert b"Apache License V2.0" in vendored[:400] and b"Copyright (C) 2010-2013" in vendored[:400]
