"""The web UI as an app, in headless Chromium against a real two-node cluster: rooms open without a
page load (the socket, the page and each room's draft and unsent messages survive), back/forward and
deep links, the phone's room drawer, dark mode, the 404/403 pages, Korean room slugs, duplicate
titles, and an axe-core pass over the main pages in light and dark. Screenshots go to test-artifacts/.
"""

import re
from pathlib import Path

import pytest

from chat.testing.clients import WsClient
from tests import test_browser
from tests.test_browser import (
    STORED_BODIES,
    SockJSGate,
    page_for,
    playwright_api,
    run_async,
    screenshot,
    send,
    wait_connected,
)
from tests.waiting import wait_until_sync

pytestmark = [pytest.mark.cluster, pytest.mark.browser]
# The fixtures of test_browser.py: a two-node cluster and headless Chromium (one of each per module).
cluster = test_browser.cluster
browser = test_browser.browser
expect = playwright_api.expect
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(autouse=True)
def _patient_expectations():
    """Generous waits: two nodes and a browser share a small, busy machine."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


def room_link(page, slug: str):
    return page.locator(f'#rooms li[data-slug="{slug}"] a')


def post_as(cluster, key: str, room: str, body: str, msg_id: str) -> None:
    async def run() -> None:
        ws = await WsClient.connect(cluster.nodes[1].port, key)
        await ws.send_message(room, body, msg_id)
        await ws.close()

    run_async(run())


def drawn_in(page) -> None:
    """Wait until the drawer has slid in (its transition ends at x = 0)."""
    wait_until_sync(lambda: page.locator("#sidebar").bounding_box()["x"] == 0, "the drawer is in")


def shown(page) -> list[str]:
    return page.locator("#messages li.message:not(.outgoing) .body").all_text_contents()


def test_rooms_open_in_place_keeping_the_page_the_socket_and_each_rooms_draft(browser, cluster):
    first, second = cluster.make_rooms(["Switch one", "Switch two"])
    (name, key), (_, other_key) = cluster.make_sessions(2, "switch")
    post_as(cluster, other_key, second, "already in two", "switch-1")
    page = page_for(browser, cluster, 0, key)
    page.goto(f"/rooms/{first}/")
    wait_connected(page)
    page.evaluate("window.__marker = 'kept'; window.__socket = window.chatClient.ws")
    page.fill("#body", "draft for one")

    room_link(page, second).click()
    expect(page).to_have_url(re.compile(f"/rooms/{second}/$"))
    expect(page.locator("#room-title")).to_have_text("Switch two")
    expect(page.locator(f'#rooms li[data-slug="{second}"]')).to_have_attribute("aria-current", "page")
    expect(page.locator("#messages li.message .body")).to_have_text(["already in two"])
    expect(page.locator("#body")).to_have_value("")
    assert page.title().startswith("Switch two")
    send(page, "hello two")
    expect(page.locator("#messages li.message:not(.outgoing) .body")).to_have_text(
        ["already in two", "hello two"]
    )
    page.fill("#body", "draft for two")

    # A message for the first room while the second is open: there when it opens again.
    post_as(cluster, other_key, first, "while away", "switch-2")
    room_link(page, first).click()
    expect(page.locator("#room-title")).to_have_text("Switch one")
    expect(page.locator("#body")).to_have_value("draft for one")
    expect(page.locator("#messages li.message .body")).to_have_text(["while away"])
    expect(page.locator("#body")).to_be_focused()  # the composer keeps the focus, as in Slack

    # Back and forward open the rooms again, from their kept views.
    page.go_back()
    expect(page).to_have_url(re.compile(f"/rooms/{second}/$"))
    expect(page.locator("#room-title")).to_have_text("Switch two")
    expect(page.locator("#body")).to_have_value("draft for two")
    assert shown(page) == ["already in two", "hello two"]
    page.go_forward()
    expect(page.locator("#room-title")).to_have_text("Switch one")
    # The lobby, in place too.
    page.locator("header.top .brand").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#welcome")).to_be_visible()
    expect(page.locator("#room-pane")).to_be_hidden()
    page.go_back()
    expect(page.locator("#room-title")).to_have_text("Switch one")
    # One page and one socket all along, and nothing sent twice.
    assert page.evaluate("window.__marker") == "kept"
    assert page.evaluate("window.__socket === window.chatClient.ws")
    assert cluster.sql(STORED_BODIES, second, name) == [("hello two",)]

    # Drafts outlive a reload (kept per room in localStorage).
    page.reload()
    wait_connected(page)
    expect(page.locator("#body")).to_have_value("draft for one")
    room_link(page, second).click()
    expect(page.locator("#body")).to_have_value("draft for two")
    assert page.errors == []
    page.context.close()


def test_a_deep_link_opens_its_room_and_an_unknown_room_is_a_styled_404_with_a_way_back(browser, cluster):
    first, second = cluster.make_rooms(["Deep one", "Deep two"])
    [(_, key)] = cluster.make_sessions(1, "deep")
    page = page_for(browser, cluster, 1, key)
    page.goto(f"/rooms/{second}/")
    wait_connected(page)
    expect(page.locator("#room-title")).to_have_text("Deep two")
    expect(page.locator("#welcome")).to_be_hidden()

    response = page.goto("/rooms/no-such-room/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("There is nothing here")
    assert page.evaluate("getComputedStyle(document.querySelector('header.top')).display") == "flex"  # styled
    page.locator(".error-page a", has_text="Back to the chat").click()
    expect(page).to_have_url(re.compile(r"/$"))
    wait_connected(page)

    # A form posted without its CSRF token: the 403 page, styled, with a way back.
    response = page.request.post("/accounts/tokens/", form={"name": "x"})
    assert response.status == 403
    page_403 = response.text()
    assert "You may not do that" in page_403 and 'href="/"' in page_403  # the way back
    assert re.search(r'href="/static/chat/style\.[0-9a-f]+\.css"', page_403)  # styled like the rest

    # The favicon: an SVG and a PNG in the page, /favicon.ico for tools that ask without reading it.
    page.goto("/")
    icons = page.locator("link[rel=icon]")
    expect(icons).to_have_count(2)
    for href in [icons.nth(i).get_attribute("href") for i in range(2)]:
        assert page.request.get(href).ok
    assert page.request.get("/favicon.ico").headers["content-type"] in (
        "image/x-icon",
        "image/vnd.microsoft.icon",
    )
    page.context.close()


def test_unsent_messages_wait_in_their_rooms_across_switches_and_a_reload(browser, cluster):
    first, second = cluster.make_rooms(["Outbox one", "Outbox two"])
    [(name, key)] = cluster.make_sessions(1, "obswitch")
    page = page_for(browser, cluster, 0, key)
    gate = SockJSGate(page.context)
    page.goto(f"/rooms/{first}/")
    wait_connected(page)
    expect(room_link(page, second)).to_be_visible()
    gate.close()
    expect(page.locator("#status")).not_to_have_attribute("data-state", "connected")
    send(page, "offline in one")
    room_link(page, second).click()
    expect(page.locator("#room-title")).to_have_text("Outbox two")
    send(page, "offline in two")
    expect(page.locator("#messages li.pending .body")).to_have_text(["offline in two"])
    room_link(page, first).click()
    expect(page.locator("#messages li.pending .body")).to_have_text(["offline in one"])
    page.reload()  # still unreachable: each room shows what waits to be sent in it
    expect(page.locator("#messages li.pending .body")).to_have_text(["offline in one"])

    gate.open = True
    wait_connected(page)
    expect(page.locator("#messages li.outgoing")).to_have_count(0)
    wait_until_sync(lambda: cluster.sql(STORED_BODIES, second, name) == [("offline in two",)], "sent in two")
    assert cluster.sql(STORED_BODIES, first, name) == [("offline in one",)]
    page.context.close()


def test_on_a_phone_the_header_is_one_row_and_the_rooms_are_a_drawer(browser, cluster):
    titles = ["Phone drawer one", "A rather long room title that still fits", "Phone drawer three"]
    slugs = cluster.make_rooms(titles)
    [(_, key)] = cluster.make_sessions(1, "drawer")
    page = page_for(browser, cluster, 0, key)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/rooms/{slugs[0]}/")
    wait_connected(page)
    header = page.locator("header.top").bounding_box()
    assert header["height"] <= 56, header  # one row
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_hidden()
    messages = page.locator("#scroller").bounding_box()
    assert messages["y"] < 200 and messages["height"] > 450, messages  # the room keeps the screen

    toggle = page.locator("#drawer-toggle")
    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f'#rooms li[data-slug="{slugs[0]}"] a')).to_be_focused()
    # The room names are whole in the drawer, not cut off.
    for slug in slugs:
        title = page.locator(f'#rooms li[data-slug="{slug}"] .room-title')
        assert title.evaluate("el => el.scrollWidth <= el.clientWidth"), slug
    # Focus stays in the drawer: what is behind is inert.
    assert page.evaluate(
        "document.getElementById('main').inert && document.querySelector('header.top').inert"
    )
    for key in ["Tab"] * 14 + ["Shift+Tab"] * 4:
        page.keyboard.press(key)
        assert page.evaluate("document.getElementById('sidebar').contains(document.activeElement)"), (
            key,
            page.evaluate("document.activeElement.outerHTML.slice(0, 200)"),
        )
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()
    assert not page.evaluate("document.getElementById('main').inert")

    toggle.click()
    drawn_in(page)
    screenshot(page, "drawer-390-en")
    room_link(page, slugs[1]).click()
    expect(sidebar).to_be_hidden()
    expect(page.locator("#room-title")).to_have_text(titles[1])
    expect(page.locator("#room-title")).to_be_focused()
    send(page, "from the drawer's room")
    expect(page.locator("#messages li.message:not(.outgoing) .body")).to_have_text(["from the drawer's room"])
    # A tap beside the drawer closes it.
    toggle.click()
    expect(sidebar).to_be_visible()
    page.mouse.click(380, 400)
    expect(sidebar).to_be_hidden()
    assert page.errors == []
    page.context.close()


def test_dark_mode_follows_the_system_and_the_toggle_is_kept(browser, cluster):
    [(_, key)] = cluster.make_sessions(1, "dark")
    page = page_for(browser, cluster, 0, key)
    page.emulate_media(color_scheme="dark")
    page.goto("/")
    wait_connected(page)
    theme = "document.documentElement.dataset.theme"
    background = "getComputedStyle(document.documentElement).backgroundColor"
    assert page.evaluate(theme) == "dark"
    dark_background = page.evaluate(background)
    page.emulate_media(color_scheme="light")
    wait_until_sync(lambda: page.evaluate(theme) == "light", "the page follows the system")
    assert page.evaluate(background) != dark_background

    toggle = page.locator("#theme-toggle")
    toggle.click()
    assert page.evaluate(theme) == "dark"
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.reload()
    assert page.evaluate(theme) == "dark"  # kept, against the system's light
    assert page.evaluate(background) == dark_background
    page.locator("#theme-toggle").click()  # back to the system's: nothing kept
    assert page.evaluate(theme) == "light"
    assert page.evaluate("localStorage.getItem('chat:theme')") is None
    assert page.errors == []
    page.context.close()


def test_a_korean_title_gets_a_readable_slug_and_a_duplicate_title_is_flagged(browser, cluster):
    [(_, key)] = cluster.make_sessions(1, "hangul")
    page = page_for(browser, cluster, 0, key, locale="ko-KR")
    page.goto("/")
    wait_connected(page)
    create = page.locator("details.create")
    create.locator("summary").click()
    create.locator("input[name=title]").fill("한국어 방")
    create.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/rooms/hangugeo-bang(-\d+)?/$"))
    slug = page.url.rstrip("/").rsplit("/", 1)[1]
    wait_connected(page)
    expect(page.locator("#room-title")).to_have_text("한국어 방")

    # The same title again: the form says so; once created, the list tells them apart by slug.
    page.locator("details.create summary").click()
    title = page.locator("details.create input[name=title]")
    title.fill("한국어 방")
    warning = page.locator("#title-duplicate")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(slug)
    title.fill("다른 방")
    expect(warning).to_be_hidden()
    title.fill("한국어 방")
    page.locator("details.create button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(f"/rooms/{slug}/$"))
    second = page.url.rstrip("/").rsplit("/", 1)[1]
    assert second.startswith("hangugeo-bang") and second != slug
    wait_connected(page)
    for each in (slug, second):
        expect(page.locator(f'#rooms li[data-slug="{each}"] .room-slug')).to_have_text(each)
    expect(page.locator("#room-slug")).to_have_text(second)
    screenshot(page, "duplicate-titles-1100-ko")

    # A title with no letters a slug can keep still gets one of its own.
    slugs = cluster.make_rooms(["日本語", "日本語"])
    assert all(re.fullmatch(r"room-[a-z0-9]{6}", s) for s in slugs) and slugs[0] != slugs[1]
    assert page.errors == []
    page.context.close()


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two CSS rgb()/rgba() colours (opaque)."""

    def luminance(color: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"[\d.]+", color)[:3])
        f = lambda c: c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4  # noqa: E731
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# The focus ring's colour, and the background it is drawn on (the nearest opaque one around it).
RING = """(selector) => {
  const el = document.querySelector(selector);
  el.focus({ focusVisible: true });
  let node = el.parentElement, bg = "rgba(0, 0, 0, 0)";
  while (node && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) { bg = getComputedStyle(node).backgroundColor; node = node.parentElement; }
  if (bg === "rgba(0, 0, 0, 0)") bg = getComputedStyle(document.documentElement).backgroundColor;
  return [getComputedStyle(el).outlineColor, bg];
}"""


def ring_contrasts(page) -> dict[str, float]:
    """The focus ring's contrast for a control in the room, the room list and the header."""
    out = {}
    for selector in ("#body", "#rooms li a", "#theme-toggle", "#search-q"):
        ring, background = page.evaluate(RING, selector)
        out[selector] = round(contrast(ring, background), 2)
    return out


AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
}"""


def axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_main_pages_have_no_serious_accessibility_violations(browser, cluster, scheme):
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs tests/axe (npm ci)")
    [room] = cluster.make_rooms([f"Axe {scheme}"])
    (name, key), (_, other_key) = cluster.make_sessions(2, f"axe{scheme}")
    post_as(
        cluster,
        other_key,
        room,
        f"hello @{name}, **bold** and `code` and a [link](https://example.com)",
        "axe-1",
    )
    found, focus_rings = {}, {}
    # bypass_csp: axe is added as a script of the test's own; the pages' CSP stays as it is otherwise.
    for signed_in in (True, False):
        base = cluster.nodes[0].http_url
        context = browser.new_context(
            base_url=base, bypass_csp=True, color_scheme=scheme, viewport={"width": 1280, "height": 800}
        )
        if signed_in:
            context.add_cookies([{"name": "sessionid", "value": key, "url": base}])
        page = context.new_page()
        paths = (
            ["/", f"/rooms/{room}/", "/accounts/tokens/", "/rooms/no-such-room/"]
            if signed_in
            else ["/accounts/login/", "/accounts/signup/"]
        )
        for path in paths:
            page.goto(path)
            if path.startswith("/rooms/") and "no-such" not in path:
                wait_connected(page)
                expect(page.locator("#messages li.message")).to_have_count(1)
            assert page.evaluate("document.documentElement.dataset.theme") == scheme
            found[path] = axe_violations(page)
            if path == f"/rooms/{room}/":
                focus_rings[path] = ring_contrasts(page)
        if signed_in:  # the phone's drawer, open
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"/rooms/{room}/")
            wait_connected(page)
            page.locator("#drawer-toggle").click()
            expect(page.locator("#sidebar")).to_be_visible()
            drawn_in(page)  # axe measures colours where the slide ends
            found["drawer"] = axe_violations(page)
        context.close()
    assert {path: v for path, v in found.items() if v} == {}
    # axe does not measure focus rings: WCAG's 3:1 against what they sit on, measured here.
    for path, contrasts in focus_rings.items():
        assert all(ratio >= 3 for ratio in contrasts.values()), (path, contrasts)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_screenshots_of_the_app_on_a_desktop_and_a_phone_in_light_and_dark(browser, cluster, lang):
    titles = {"en": ["General", "Design review", "Random"], "ko": ["일반", "디자인 검토", "잡담"]}[lang]
    slugs = cluster.make_rooms(titles)
    (name, key), (_, other_key) = cluster.make_sessions(2, f"shots{lang}")
    lines = {
        "en": [
            "Morning! The **build** is green again.",
            f"@{name} can you look at `deploy.yml`?",
            "Sure, after lunch.",
        ],
        "ko": [
            "좋은 아침! **빌드**가 다시 통과했어요.",
            f"@{name} `deploy.yml` 좀 봐 줄래요?",
            "네, 점심 먹고 볼게요.",
        ],
    }[lang]
    for i, line in enumerate(lines):
        post_as(cluster, other_key, slugs[0], line, f"shot-{lang}-{i}")
    post_as(cluster, other_key, slugs[1], lines[0], f"shot-{lang}-x")
    for scheme in ("light", "dark"):
        for width, height in ((1280, 800), (390, 844)):
            page = page_for(browser, cluster, 0, key, locale="ko-KR" if lang == "ko" else "en-US")
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"/rooms/{slugs[0]}/")
            wait_connected(page)
            expect(page.locator("#messages li.message")).to_have_count(3)
            page.fill("#body", {"en": "A draft…", "ko": "임시 저장…"}[lang])
            screenshot(page, f"app-room-{width}-{scheme}-{lang}")
            if width == 390:
                page.locator("#drawer-toggle").click()
                expect(page.locator("#sidebar")).to_be_visible()
                drawn_in(page)
                screenshot(page, f"app-drawer-{width}-{scheme}-{lang}")
                page.keyboard.press("Escape")
            page.locator("#header-menu summary").click()
            screenshot(page, f"app-menu-{width}-{scheme}-{lang}")
            page.goto("/")  # the lobby: on a phone, the room list itself
            wait_connected(page)
            expect(page.locator("#welcome" if width > 640 else "#sidebar")).to_be_visible()
            screenshot(page, f"app-lobby-{width}-{scheme}-{lang}")
            page.goto("/rooms/no-such-room/")
            screenshot(page, f"app-404-{width}-{scheme}-{lang}")
            assert page.errors == []
            page.context.close()
