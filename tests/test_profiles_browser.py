"""The profile page (/accounts/profile/) in headless Chromium on a real two-node cluster: filled
with the keyboard, a picture uploaded and shown from the other node, a refused file's error, and
screenshots at 1280x800 and 390x844 in English and Korean (test-artifacts/profile-*.png)."""

import io

import pytest
from PIL import Image

from chat.testing.cluster import start_cluster
from tests.test_browser import browser, screenshot  # noqa: F401 (a fixture)
from tests.waiting import wait_until_sync

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("profiles-browser")
    cluster = start_cluster(workdir, CHAT_UPLOAD_ROOT=str(workdir / "uploads"))
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def picture(path) -> str:
    """A photo-like JPEG (a gradient with a disc), 900x600: cropped to a square on upload."""
    image = Image.linear_gradient("L").resize((900, 600)).convert("RGB")
    disc = Image.new("RGB", (900, 600), (31, 79, 143))
    mask = Image.new("L", (900, 600), 0)
    from PIL import ImageDraw

    ImageDraw.Draw(mask).ellipse((300, 150, 600, 450), fill=255)
    image.paste(disc, mask=mask)
    out = io.BytesIO()
    image.save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return str(path)


def page_for(browser, cluster, node: int, session_key: str, *, locale: str, timezone_id: str = "Asia/Seoul"):  # noqa: F811
    """tests/test_browser.py's page_for, with the device's time zone set."""
    base = cluster.nodes[node].http_url
    context = browser.new_context(
        base_url=base, locale=locale, timezone_id=timezone_id, viewport=SIZES["1280"]
    )
    context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def image_loaded(page, selector: str) -> bool:
    return page.evaluate(
        "(s) => { const i = document.querySelector(s); return !!i && i.complete && i.naturalWidth > 0; }",
        selector,
    )


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_the_profile_page_is_filled_with_the_keyboard_and_shows_the_picture_on_the_other_node(
    browser,  # noqa: F811
    cluster,
    locale,
    tmp_path,
):
    [(name, key)] = cluster.make_sessions(1, f"profile{locale[:2]}")
    page = page_for(browser, cluster, 0, key, locale=locale)
    console: list[str] = []
    page.on(
        "console", lambda message: console.append(f"{message.type}: {message.text} {message.location['url']}")
    )
    page.goto("/")
    # The header menu (under the username) links to the profile page.
    page.locator("#header-menu summary").click()
    page.locator("#header-menu a[href='/accounts/profile/']").click()
    expect(page).to_have_url(f"{cluster.nodes[0].http_url}/accounts/profile/")
    heading = "Your profile" if locale == "en-US" else "내 프로필"
    expect(page.locator("h1")).to_have_text(heading)
    # The initials before any picture.
    expect(page.locator(".profile-avatar.initials")).to_have_text(name[0].upper())

    # Keyboard only: focus the first field, type, Tab to the next, choose a zone by typing.
    page.locator("#id_display_name").focus()
    page.keyboard.type("Ada Lovelace" if locale == "en-US" else "김 영희")
    page.keyboard.press("Tab")
    page.keyboard.type("Reviewing the Q3 plan" if locale == "en-US" else "3분기 계획 검토 중")
    page.keyboard.press("Tab")  # the time zone: not set yet, so the page offers the device's
    expect(page.locator("#tz-hint")).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Use this device's time zone: Asia/Seoul"
    expect(page.locator("#id_time_zone")).to_have_value("Asia/Seoul")
    expect(page.locator("#tz-hint")).to_be_hidden()
    page.set_input_files("#id_avatar", picture(tmp_path / "me.jpg"))
    page.locator("#id_status_text").press("Enter")  # Enter in a text field submits the form
    expect(page.locator("p.notice[role=status]")).to_be_visible()
    wait_until_sync(lambda: image_loaded(page, "img.profile-avatar"), "the picture shows")
    expect(page.locator(".profile-name")).to_have_text("Ada Lovelace" if locale == "en-US" else "김 영희")
    src = page.locator("img.profile-avatar").get_attribute("src")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        assert no_horizontal_scroll(page), f"the page scrolls sideways at {size} px"
        screenshot(page, f"profile-{locale[:2]}-{size}")

    # The same picture from the other node (the same session works on every node).
    other = page_for(browser, cluster, 1, key, locale=locale)
    other.goto("/accounts/profile/")
    assert other.locator("img.profile-avatar").get_attribute("src") == src
    wait_until_sync(lambda: image_loaded(other, "img.profile-avatar"), "the picture shows on node 2")

    # A refused file: a clear error next to the field, announced, and nothing else changes.
    svg = tmp_path / "evil.png"
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    other.set_input_files("#id_avatar", str(svg))
    other.locator("form.profile-form button[type=submit]").click()
    error = other.locator(".field-errors[role=alert]")
    expect(error).to_contain_text("PNG, JPEG, GIF" if locale == "en-US" else "PNG, JPEG, GIF, WebP")
    other.set_viewport_size(SIZES["390"])
    assert no_horizontal_scroll(other)
    screenshot(other, f"profile-{locale[:2]}-390-error")
    assert page.errors == [] and other.errors == []
    errors = [line for line in console if line.startswith("error") and not line.endswith("/favicon.ico")]
    assert not errors and not [line for line in console if "Content Security Policy" in line]
    page.context.close()
    other.context.close()
