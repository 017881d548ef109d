"""The search panel and attachments in headless Chromium, on two real nodes (SQLite)."""

import io

import pytest
from PIL import Image
from playwright import sync_api as playwright_api

from tests.test_browser import (  # noqa: F401 (fixtures)
    STORED_BODIES,
    SockJSGate,
    browser,
    cluster,
    outbox_keys,
    page_for,
    screenshot,
    wait_connected,
)
from tests.test_dms_browser import set_display_name
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
    # A click opens the full image in the lightbox; a click on it closes it.
    page.locator("#messages .attachment.image").click()
    lightbox = page.locator("dialog.lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox.locator("img")).to_have_attribute("alt", "green.png")
    lightbox.click()
    expect(lightbox).to_be_hidden()
    card = page.locator("#messages .attachment.file")
    expect(card).to_contain_text("page.html")
    url = card.get_attribute("href")
    with page.expect_download() as download:
        page.evaluate("(url) => { location.href = url; }", url)
    assert download.value.suggested_filename == "page.html"
    assert page.errors == []


# Past the first KiB, where the type check looks for markup, a script the file would run if a
# browser ever rendered it as a page: in the parent page (an iframe) or the opener (a new tab).
SCRIPT_AFTER_PADDING = (
    b"notes "
    * 200
    + b"<html><body><script>try { parent.__xss = 1; } catch (e) {} try { opener.__xss = 1; } catch (e) {}"
    b" document.title = 'ran';</script><svg onload='parent.__xss=2'></svg></body></html>"
)


def share_file(page, room: str, name: str, content_type: str, data: bytes, body: str):
    """Open the room, send `data` as a file with `body` from the composer; the stored message's card."""
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    page.set_input_files(
        "#composer input[type=file]", [{"name": name, "mimeType": content_type, "buffer": data}]
    )
    expect(page.locator(".upload-tray li.ready")).to_have_count(1)
    page.fill("#body", body)
    page.click("#composer button[type=submit]")
    stored = page.locator("#messages li.message:not(.outgoing) .attachment.file")  # acked, not pending
    expect(stored).to_have_count(1, timeout=15_000)
    return stored


def test_a_script_inside_a_shared_file_never_runs_on_either_node(browser, cluster):  # noqa: F811
    [room] = cluster.make_rooms(["Script in a file"])
    [(_, sharer), (_, reader)] = cluster.make_sessions(2, "scriptfile")
    page = page_for(browser, cluster, 0, sharer)
    stored = share_file(page, room, "notes.html", "text/html", SCRIPT_AFTER_PADDING, "the notes")
    url = stored.get_attribute("href")

    other = page_for(browser, cluster, 1, reader)  # the other node serves it
    other.goto(f"/rooms/{room}/")
    wait_connected(other)
    expect(other.locator("#messages .attachment.file")).to_have_attribute("href", url, timeout=15_000)
    # In an iframe of the app's own origin, where a rendered script could reach the app: a download.
    with other.expect_download() as framed:
        other.evaluate(
            "(url) => { const f = document.createElement('iframe'); f.src = url; document.body.append(f); }",
            url,
        )
    # Opened as a page of its own: a download too.
    with other.expect_download() as opened:
        other.evaluate("(url) => { window.open(url, '_blank'); }", url)
    for download in (framed.value, opened.value):
        assert download.suggested_filename == "notes.html"
        assert download.path().read_bytes() == SCRIPT_AFTER_PADDING
    assert other.evaluate("window.__xss") is None and page.evaluate("window.__xss") is None
    assert all(p.title() != "ran" for p in other.context.pages)
    assert other.errors == [] and page.errors == []


def test_a_message_s_files_stay_through_redraws_and_show_in_its_thread_on_the_other_node(browser, cluster):  # noqa: F811
    """A message is drawn again when its author's name changes and when someone reacts (an edit
    redraws it the same way, through message.changed): its files are part of the drawing (they were once added after it, and a redraw, say when
    the author's user object arrived after the history, took them away). A reply's files show in
    the thread panel, and the cards keep the list's one keyboard stop."""
    [room] = cluster.make_rooms(["Files redrawn"])
    [(sharer_name, sharer), (_, reader)] = cluster.make_sessions(2, "redrawn")
    page = page_for(browser, cluster, 0, sharer)
    share_file(page, room, "plan.txt", "text/plain", b"the plan", "the plan")

    other = page_for(browser, cluster, 1, reader)
    other.goto(f"/rooms/{room}/")
    wait_connected(other)
    shared = other.locator("#messages li.message:not(.outgoing)", has_text="the plan")
    card = shared.locator(".attachments .attachment.file")
    expect(card).to_have_text("plan.txt · 8 B", timeout=15_000)
    # Reached with Tab only inside its message, like the message's other controls (one stop per list).
    assert card.get_attribute("tabindex") == shared.get_attribute("tabindex") is not None

    set_display_name(cluster, sharer_name, "Plan Keeper")  # user.updated: the message is drawn again
    expect(shared.locator(".author")).to_have_text("Plan Keeper", timeout=15_000)
    expect(card).to_have_count(1)
    cluster.django(  # a reaction: message.changed draws the message again
        "from chat.domain import message_changes, selectors; from django.contrib.auth import get_user_model\n"
        f"r = selectors.room_get(slug={room!r}); m = r.messages.get(body='the plan')\n"
        f"message_changes.reaction_add(room_slug=r.slug, user=get_user_model().objects.get(username={sharer_name!r}),"
        " message_id=m.pk, emoji='👍'); print('ok')"
    )
    expect(shared.locator(".reaction")).to_have_count(1, timeout=15_000)
    expect(card).to_have_count(1)
    expect(shared.locator(".attachments + .reactions")).to_have_count(1)  # files first, then reactions

    # A reply with a file, stored by the service: its card shows in the thread panel.
    cluster.django(
        "from django.contrib.auth import get_user_model; from django.core.files.base import ContentFile\n"
        "from chat.domain import attachments, selectors, services\n"
        f"u = get_user_model().objects.get(username={sharer_name!r}); r = selectors.room_get(slug={room!r})\n"
        "a = attachments.attachment_upload(uploader=u, upload=ContentFile(b'step one', name='steps.txt'), name='steps.txt')\n"
        "parent = r.messages.get(body='the plan')\n"
        "services.messages_create_batch([services.MessageRequest(room_slug=r.slug, author=u, body='the steps',"
        " client_msg_id='steps-1', reply_to=parent.pk, attachments=(a.pk,))], limit_rate=False); print('ok')"
    )
    summary = shared.locator(".thread-summary")
    expect(summary.locator(".reply-count")).to_have_text("1 reply", timeout=15_000)
    summary.click()
    reply_card = other.locator("#thread-replies li.message", has_text="the steps").locator(".attachment.file")
    expect(reply_card).to_have_text("steps.txt · 8 B")
    screenshot(other, "files-in-thread")
    assert other.errors == [] and page.errors == []
    page.context.close()
    other.context.close()
    phone = page_for(browser, cluster, 1, reader, locale="ko-KR")
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"/rooms/{room}/")
    wait_connected(phone)
    expect(phone.locator("#messages .attachments + .reactions")).to_have_count(1, timeout=15_000)
    screenshot(phone, "files-phone-ko")
    phone.context.close()


def test_a_file_sent_while_the_server_is_unreachable_is_stored_once_when_it_returns(browser, cluster):  # noqa: F811
    """A send with files goes through the outbox like any other: shown "sending…" (with the files'
    names when it has no text), kept while the socket is down, sent once when it is back."""
    [room] = cluster.make_rooms(["Files offline"])
    [(name, key)] = cluster.make_sessions(1, "fileoutbox")
    page = page_for(browser, cluster, 0, key)
    gate = SockJSGate(page.context)
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    page.set_input_files(
        "#composer input[type=file]", [{"name": "late.txt", "mimeType": "text/plain", "buffer": b"late"}]
    )
    expect(page.locator(".upload-tray li.ready")).to_have_count(1)  # uploaded over HTTP
    gate.close()
    expect(page.locator("#status")).not_to_have_attribute("data-state", "connected")
    page.click("#composer button[type=submit]")  # no text: the file alone
    expect(page.locator("#messages li.pending .body")).to_have_text("late.txt")
    assert len(outbox_keys(page)) == 1
    gate.open = True
    wait_connected(page)
    expect(page.locator("#messages li.message:not(.outgoing) .attachment.file")).to_have_text(
        "late.txt · 4 B", timeout=15_000
    )
    expect(page.locator("#messages li.outgoing")).to_have_count(0)
    assert cluster.sql(STORED_BODIES, room, name) == [("",)]
    files = "SELECT a.name FROM chat_attachment a JOIN chat_message m ON m.id = a.message_id WHERE m.body = '' AND a.name = ?"
    assert cluster.sql(files, "late.txt") == [("late.txt",)]
    assert outbox_keys(page) == []
    assert page.errors == []
    page.context.close()


def test_refused_uploads_say_why_in_the_reader_s_language(browser, cluster, tmp_path):  # noqa: F811
    [room] = cluster.make_rooms(["Refused files"])
    [(_, key)] = cluster.make_sessions(1, "refused")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(25 * 1024 * 1024 + 1)  # one byte over CHAT_UPLOAD_MAX_BYTES (sparse: nothing written)
    svg = tmp_path / "kitten.png"
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    for locale, too_large, refused_type in (
        ("en-US", "Too large: files can be at most 25 MB.", "This type of file is not accepted."),
        (
            "ko-KR",
            "너무 큽니다: 파일은 최대 25 MB까지 올릴 수 있습니다.",
            "이 형식의 파일은 올릴 수 없습니다.",
        ),
    ):
        page = page_for(browser, cluster, 1, key, locale=locale)
        uploads: list = []
        page.on(
            "request",
            lambda request, seen=uploads: request.url.endswith("/api/uploads/") and seen.append(request),
        )
        page.goto(f"/rooms/{room}/")
        wait_connected(page)
        page.set_input_files("#composer input[type=file]", [str(big), str(svg)])
        failed = page.locator(".upload-tray li.failed")
        expect(failed).to_have_count(2)
        expect(failed.nth(0).get_by_role("alert")).to_have_text(too_large)
        expect(failed.nth(1).get_by_role("alert")).to_have_text(refused_type)
        assert len(uploads) == 1  # the SVG went to the server; the 25 MiB file never left the browser
        if locale == "ko-KR":
            screenshot(page, "upload-refused-ko")
        # A refused file leaves the tray with its × (and takes nothing with it to the next send).
        failed.nth(0).get_by_role("button").click()
        expect(failed).to_have_count(1)
        page.context.close()
