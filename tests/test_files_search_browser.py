"""The search panel and attachments in headless Chromium, on two real nodes (SQLite)."""

import io

import pytest
from PIL import Image
from playwright import sync_api as playwright_api

from tests.test_browser import browser, cluster, page_for, wait_connected  # noqa: F401 (fixtures)
from tests.waiting import wait_until_sync

pytestmark = [pytest.mark.cluster, pytest.mark.browser]
expect = playwright_api.expect


def test_a_search_result_opens_the_room_at_the_message(browser, cluster):  # noqa: F811
    [room] = cluster.make_rooms(["Search in browser"])
    [(name, key)] = cluster.make_sessions(1, "searcher")
    cluster.django(
        "from chat.domain import services, selectors; from django.contrib.auth import get_user_model\n"
        f"r = selectors.room_get(slug={room!r}); u = get_user_model().objects.get(username={name!r})\n"
        "[services.message_create(room=r, author=u, body=('needle in the haystack' if i == 3 else f'hay {i}'),"
        " client_msg_id=f'h{i}') for i in range(300)]; print('ok')"
    )
    page = page_for(browser, cluster, 1, key)
    page.goto("/")
    page.fill("#search-q", "needle")
    page.click("#search button[type=submit]")
    result = page.locator("#search-results .search-result a")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text("needle")
    result.click()
    wait_connected(page)
    expect(page.locator("#messages li.jump-target")).to_contain_text("needle in the haystack", timeout=15_000)
    assert page.errors == []


def test_an_image_sent_from_the_composer_shows_as_a_thumbnail_and_html_never_runs(browser, cluster):  # noqa: F811
    [room] = cluster.make_rooms(["Files in browser"])
    [(_, key)] = cluster.make_sessions(1, "sharer")
    page = page_for(browser, cluster, 0, key)
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    image = io.BytesIO()
    Image.new("RGB", (120, 80), (0, 128, 0)).save(image, format="PNG")
    page.set_input_files(
        "#composer input[type=file]",
        [
            {"name": "green.png", "mimeType": "image/png", "buffer": image.getvalue()},
            {
                "name": "page.html",
                "mimeType": "text/html",
                "buffer": b"hi <img src=x onerror=alert(1)> there",
            },
        ],
    )
    expect(page.locator(".upload-tray li.ready")).to_have_count(2)
    page.fill("#body", "two files")
    page.click("#composer button[type=submit]")
    thumb = page.locator("#messages .attachment.image img")
    expect(thumb).to_have_count(1)
    wait_until_sync(  # polled from here: wait_for_function's string predicate is eval'd, which the CSP forbids
        lambda: page.evaluate("document.querySelector('#messages .attachment.image img')?.naturalWidth > 0"),
        "the thumbnail decoded",
    )
    card = page.locator("#messages .attachment.file")
    expect(card).to_contain_text("page.html")
    url = card.get_attribute("href")
    with page.expect_download() as download:
        page.evaluate("(url) => { location.href = url; }", url)
    assert download.value.suggested_filename == "page.html"
    assert page.errors == []
