"""The message UI in headless Chromium against a real two-node cluster: formatting, edits, deletions,
reactions, threads, reading aids (days, runs, jump to latest), the keyboard, and screenshots."""

import datetime
import re

import pytest

from chat.testing.clients import WsClient
from tests import test_browser
from tests.test_browser import (
    page_for,
    playwright_api,
    run_async,
    screenshot,
    send,
    two_users_in_room,
    wait_connected,
)

pytestmark = [pytest.mark.cluster, pytest.mark.browser]
# The fixtures of test_browser.py: a two-node cluster and headless Chromium (one of each per module).
cluster = test_browser.cluster
browser = test_browser.browser
expect = playwright_api.expect


@pytest.fixture(autouse=True)
def _patient_expectations():
    """Generous waits: two nodes and a browser share a small, busy machine."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


def message(page, text: str):
    """The shown message (not a pending send) whose body contains `text`."""
    return page.locator("#messages li.message:not(.outgoing)", has=page.locator(".body", has_text=text))


def action(page, item, name: str) -> None:
    """Click one of a message's hover actions (react, thread, edit, delete)."""
    item.hover()
    item.locator(f".actions button[data-action={name}]").click()


def post(cluster, session_key: str, room: str, frames: list[dict], *, node: int = 0) -> list[dict]:
    """Send frames over a socket of our own (subscribed to the room) and return each one's answer."""

    answers: list[dict] = []

    async def run() -> None:
        ws = await WsClient.connect(cluster.nodes[node].port, session_key)
        await ws.subscribe(room)
        for frame in frames:
            await ws.send(frame)
            kind = {"message.send": "message.ack", "thread.fetch": "thread"}.get(frame["type"], "done")
            while True:
                answer = await ws.recv()
                if answer["type"] in (kind, "error"):
                    answers.append(answer)
                    break
        await ws.close()

    run_async(run())
    assert all(a["type"] != "error" for a in answers), answers
    return answers


def test_formatting_edits_and_deletions_reach_the_other_node(browser, cluster):
    _, (_, a), (_, b) = two_users_in_room(browser, cluster, "Edits", "edit")
    send(a, "**bold** and `code` and [a link](https://example.com/x)\n```\nfenced <b>code</b>\n```")
    item = message(b, "bold and")
    expect(item.locator(".body strong")).to_have_text("bold")
    expect(item.locator(".body :not(pre) > code")).to_have_text("code")
    expect(item.locator(".body pre code")).to_have_text("fenced <b>code</b>\n")
    link = item.locator(".body a")
    expect(link).to_have_attribute("href", "https://example.com/x")
    expect(link).to_have_attribute("target", "_blank")
    assert "noopener" in link.get_attribute("rel")

    # Edit through the message's actions: Enter saves; "(edited)" with its time reaches node 2.
    send(a, "first version")
    mine = message(a, "first version")
    expect(mine).to_be_visible()
    action(a, mine, "edit")
    editor = a.locator("#messages .editor textarea")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("first version")
    screenshot(a, "editing")
    editor.fill("second version")
    editor.press("Enter")
    theirs = message(b, "second version")
    expect(theirs.locator(".edited")).to_be_visible()
    edited = theirs.locator(".edited")
    assert edited.get_attribute("title").startswith("Edited ")
    assert "Edited " in edited.locator(".visually-hidden").inner_text()
    expect(a.locator("#messages .editor")).to_have_count(0)

    # ArrowUp in the empty composer edits the last own message; Escape cancels, focus comes back.
    a.locator("#body").focus()
    a.keyboard.press("ArrowUp")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("second version")
    a.keyboard.press("Escape")
    expect(a.locator("#messages .editor")).to_have_count(0)
    expect(a.locator("#body")).to_be_focused()
    a.keyboard.press("ArrowUp")
    editor.fill("third version")
    editor.press("Enter")
    expect(message(b, "third version").locator(".edited")).to_be_visible()

    # Delete asks first, then shows "message deleted" in place, for both, live and after a reload.
    send(a, "to be deleted")
    doomed = message(a, "to be deleted")
    expect(message(b, "to be deleted")).to_be_visible()
    action(a, doomed, "delete")
    dialog = a.locator("#confirm-delete")
    expect(dialog).to_be_visible()
    dialog.locator("button[value=cancel]").click()
    expect(dialog).to_be_hidden()
    expect(message(a, "to be deleted")).to_be_visible()
    action(a, doomed, "delete")
    dialog.locator("button[value=delete]").click()
    for page in (a, b):
        expect(page.locator("#messages li.message.deleted .body")).to_have_text("message deleted")
        expect(message(page, "to be deleted")).to_have_count(0)
    b.reload()
    wait_connected(b)
    expect(b.locator("#messages li.message.deleted .body")).to_have_text("message deleted")
    expect(message(b, "third version").locator(".edited")).to_be_visible()
    expect(b.locator("#messages li.message.deleted .actions")).to_have_count(0)

    # Away while a edits and deletes, b catches up (subscribe with since): both show in place.
    for text in ("edited while away", "deleted while away"):
        send(a, text)
        expect(message(b, text)).to_be_visible()
    b.evaluate(
        "() => { const c = window.chatClient; c.away = c.connect; c.connect = () => {}; c.ws.close(); }"
    )
    expect(b.locator("#status")).not_to_have_attribute("data-state", "connected")
    action(a, message(a, "edited while away"), "edit")
    editor.fill("edited after all")
    editor.press("Enter")
    expect(message(a, "edited after all").locator(".edited")).to_be_visible()
    action(a, message(a, "deleted while away"), "delete")
    dialog.locator("button[value=delete]").click()
    expect(a.locator("#messages li.message.deleted")).to_have_count(2)
    b.evaluate("() => { const c = window.chatClient; c.connect = c.away; c.connect(); }")
    wait_connected(b)
    expect(message(b, "edited after all").locator(".edited")).to_be_visible()
    expect(b.locator("#messages li.message.deleted")).to_have_count(2)
    expect(message(b, "deleted while away")).to_have_count(0)
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


def test_reactions_show_live_on_the_other_node_and_toggle(browser, cluster):
    _, (name_a, a), (name_b, b) = two_users_in_room(browser, cluster, "Reactions", "react")
    send(a, "react to me")
    theirs = message(b, "react to me")
    action(b, theirs, "react")
    picker = b.locator("#reaction-picker")
    expect(picker).to_be_visible()
    expect(picker.locator("button.picker-emoji")).to_have_count(12)
    picker.locator('button[data-emoji="👍"]').click()
    expect(picker).to_be_hidden()

    chip = message(a, "react to me").locator('.reaction[data-emoji="👍"]')
    expect(chip.locator(".count")).to_have_text("1")
    expect(chip).to_have_attribute("aria-pressed", "false")
    assert name_b in chip.get_attribute("title")
    chip.click()  # a adds theirs
    expect(chip.locator(".count")).to_have_text("2")
    expect(chip).to_have_attribute("aria-pressed", "true")
    their_chip = theirs.locator('.reaction[data-emoji="👍"]')
    expect(their_chip.locator(".count")).to_have_text("2")
    assert name_a in their_chip.get_attribute("aria-label")
    chip.click()  # and takes it back
    expect(their_chip.locator(".count")).to_have_text("1")
    their_chip.click()  # b takes theirs back: no chip is left
    expect(chip).to_have_count(0)
    expect(their_chip).to_have_count(0)

    # From the keyboard: the picker opens on the first emoji, arrows move, Enter picks, Escape closes.
    theirs.hover()
    theirs.locator(".actions button[data-action=react]").focus()
    b.keyboard.press("Enter")
    expect(picker.locator('button[data-emoji="👍"]')).to_be_focused()
    b.keyboard.press("ArrowRight")
    b.keyboard.press("Enter")
    expect(message(a, "react to me").locator(".reaction .emoji")).to_have_text("❤️")
    expect(theirs.locator(".actions button[data-action=react]")).to_be_focused()
    b.keyboard.press("Enter")
    expect(picker).to_be_visible()
    b.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


def test_replies_live_in_the_thread_and_their_count_updates_on_the_other_node(browser, cluster):
    _, (_, a), (_, b) = two_users_in_room(browser, cluster, "Threads", "thread")
    send(a, "a question")
    parent_b = message(b, "a question")
    action(b, parent_b, "thread")
    panel = b.locator("#thread")
    expect(panel).to_be_visible()
    expect(panel.locator("#thread-parent .body")).to_have_text("a question")
    expect(b.locator("#thread-body")).to_be_focused()
    send_reply = lambda page, text: (page.fill("#thread-body", text), page.press("#thread-body", "Enter"))  # noqa: E731
    send_reply(b, "an answer")
    expect(panel.locator("#thread-replies li.message:not(.outgoing) .body")).to_have_text(["an answer"])

    summary = message(a, "a question").locator(".thread-summary")
    expect(summary.locator(".reply-count")).to_have_text("1 reply")
    expect(summary).to_contain_text("last reply")
    expect(message(a, "an answer")).to_have_count(0)  # replies stay in the thread, as in Slack
    expect(message(b, "an answer")).to_have_count(0)
    summary.click()
    expect(a.locator("#thread #thread-replies .body")).to_have_text(["an answer"])
    expect(a.locator("#thread-count")).to_have_text("1 reply")

    send_reply(b, "a second answer")
    expect(a.locator("#thread #thread-replies .body")).to_have_text(["an answer", "a second answer"])
    expect(summary.locator(".reply-count")).to_have_text("2 replies")
    expect(parent_b.locator(".thread-summary .reply-count")).to_have_text("2 replies")

    # Escape closes the thread and gives the focus back to what opened it.
    a.keyboard.press("Escape")
    expect(a.locator("#thread")).to_be_hidden()
    expect(summary).to_be_focused()
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


MARKDOWN_XSS = [
    "[x](javascript:window.__xss=1)",
    "[y](JaVaScRiPt:window.__xss=1)",
    "[z](data:text/html,<script>window.__xss=1</script>)",
    "```\n<img src=x onerror=window.__xss=1>\n```",
    "`<img src=x onerror=window.__xss=1>`",
    "**<script>window.__xss=1</script>**",
    "> <svg onload=window.__xss=1>",
    "- [l](vbscript:window.__xss=1)",
    '<https://example.com" onmouseover="window.__xss=1>',
    '![i](x" onerror="window.__xss=1)',
    "@<img src=x onerror=window.__xss=1> **@x<script>window.__xss=1</script>**",
    # Nested brackets: a link inside a link's text, an image inside a link, unbalanced brackets.
    "[[x](javascript:window.__xss=1)](https://example.com)",
    "[![i](javascript:window.__xss=1)](javascript:window.__xss=1)",
    "[a [b [c](javascript:window.__xss=1)]](data:text/html,x)",
    "[x]([y](javascript:window.__xss=1))",
    # A reference-style link and an autolink with a script scheme.
    "[r][1]\n\n[1]: javascript:window.__xss=1",
    "<javascript:window.__xss=1>",
    # HTML in a fenced block with an info string that tries to close the attribute.
    '```"><img src=x onerror=window.__xss=1>\n<script>window.__xss=1</script>\n```',
]


def test_markdown_aimed_payloads_execute_nothing(browser, cluster):
    [room] = cluster.make_rooms(["Markdown XSS"])
    [(_, writer), (_, viewer)] = cluster.make_sessions(2, "mdxss")
    post(
        cluster,
        writer,
        room,
        [
            {"type": "message.send", "room": room, "body": body, "client_msg_id": f"md{i}"}
            for i, body in enumerate(MARKDOWN_XSS)
        ],
    )
    page = page_for(browser, cluster, 1, viewer)
    page.goto(f"/rooms/{room}/")
    wait_connected(page)
    items = page.locator("#messages li.message")
    expect(items).to_have_count(len(MARKDOWN_XSS))
    for link in page.locator("#messages .body a").all():
        assert link.get_attribute("href").startswith(("http:", "https:", "mailto:")), link.get_attribute(
            "href"
        )
        link.hover()
    assert page.locator("#messages .body img, #messages .body script, #messages .body svg").count() == 0
    assert page.locator("#messages .body [onerror], #messages .body [onmouseover]").count() == 0
    # As in test_browser: an image's error event would come after a round trip; wait for one of ours.
    page.evaluate(
        """() => new Promise((resolve) => {
            const probe = new Image();
            probe.onerror = probe.onload = resolve;
            probe.src = "x?after-the-messages";
        })"""
    )
    assert page.evaluate("window.__xss") is None

    # Even HTML that the server's sanitizer would have refused is checked again in the page.
    leaked = page.evaluate(
        """() => {
            const list = document.createElement("ol");
            list.id = "probe";
            document.body.append(list);
            const view = new ChatMessages.MessageView(list, {me: "nobody", onAction: () => {}});
            view.upsert({id: 1, seq: 1, author: "x", body: "", created_at: new Date().toISOString(),
                html: '<p><img src=x onerror="window.__xss=1"><a href="javascript:window.__xss=1" '
                    + 'onclick="window.__xss=1">l</a><script>window.__xss=1</script>'
                    + '<iframe src="javascript:window.__xss=1"></iframe><b style="x">b</b></p>'});
            const body = list.querySelector(".body");
            return {html: body.innerHTML, text: body.textContent};
        }"""
    )
    assert (
        leaked["html"] == '<p><a target="_blank" rel="noopener noreferrer nofollow">l</a>window.__xss=1b</p>'
    )
    page.locator("#probe a").click()
    page.evaluate(
        """() => new Promise((resolve) => {
            const probe = new Image();
            probe.onerror = probe.onload = resolve;
            probe.src = "x?after-the-probe";
        })"""
    )
    assert page.evaluate("window.__xss") is None
    assert page.errors == []
    page.context.close()


def _at(days_ago: int, minute: int) -> str:
    """An ISO time `days_ago` days before today, at 12:<minute> UTC (the browser's zone here)."""
    noon = datetime.datetime.now(datetime.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return (noon - datetime.timedelta(days=days_ago) + datetime.timedelta(minutes=minute)).isoformat()


def layout(page) -> list[str]:
    """The list as the reader sees it: date separators, and each message as grouped or headed."""
    return page.locator("#messages > li").evaluate_all(
        "items => items.filter(li => !li.classList.contains('outgoing')).map(li =>"
        " li.classList.contains('date-sep') ? 'day:' + li.querySelector('.day').textContent :"
        " li.classList.contains('message') ? (li.classList.contains('grouped') ? '  ' : '') +"
        " li.querySelector('.body').textContent : li.className)"
    )


def test_days_runs_of_one_author_and_jump_to_latest(browser, cluster):
    [room] = cluster.make_rooms(["Days"])
    (name_a, key_a), (_, key_b) = cluster.make_sessions(2, "days")
    # Two days ago: a run of three within five minutes, then one after a pause; yesterday: one.
    dated = [
        ("run 1", _at(2, 0)),
        ("run 2", _at(2, 1)),
        ("run 3", _at(2, 4)),
        ("later", _at(2, 20)),
        ("yday", _at(1, 0)),
    ]
    cluster.django(
        "from chat.domain import services; from chat.models import Room, Message; "
        "from django.contrib.auth import get_user_model; import datetime\n"
        f"room = Room.objects.get(slug='{room}'); user = get_user_model().objects.get(username='{name_a}')\n"
        f"for body, at in {dated!r}:\n"
        "    m, _ = services.message_create(room=room, author=user, body=body, client_msg_id='d-' + body.replace(' ', ''))\n"
        "    Message.objects.filter(pk=m.pk).update(created_at=datetime.datetime.fromisoformat(at))\n"
        "for i in range(40): services.message_create(room=room, author=user, body=f'filler {i}', client_msg_id=f'f{i}')\n"
        "print('ok')"
    )
    a = page_for(browser, cluster, 0, key_a)
    b = page_for(browser, cluster, 1, key_b)
    for page in (a, b):
        page.goto(f"/rooms/{room}/")
        wait_connected(page)
    two_days_ago = a.evaluate(
        "iso => new Intl.DateTimeFormat('en', {weekday: 'long', month: 'long', day: 'numeric'}).format(new Date(iso))",
        _at(2, 0),
    )
    expect(a.locator("#messages .date-sep .day")).to_have_text([two_days_ago, "Yesterday", "Today"])
    shown = layout(a)
    assert shown[:7] == [
        f"day:{two_days_ago}",
        "run 1",
        "  run 2",
        "  run 3",
        "later",
        "day:Yesterday",
        "yday",
    ]
    assert shown[7:10] == ["day:Today", "filler 0", "  filler 1"]

    # The time's full date and time on hover (title), for screen readers, and on keyboard focus.
    time = a.locator("#messages li.message", has_text="run 1").locator("time")
    full = a.evaluate(
        "iso => new Intl.DateTimeFormat('en', {dateStyle: 'full', timeStyle: 'medium'}).format(new Date(iso))",
        _at(2, 0),
    )
    expect(time).to_have_attribute("title", full)
    expect(time.locator(".visually-hidden")).to_have_text(full)

    # Live runs read as after a reload.
    send(a, "live 1")
    send(a, "live 2")
    expect(message(a, "live 2")).to_be_visible()
    expect(message(a, "live 2")).to_have_class(re.compile(r"\bgrouped\b"))
    live = layout(a)
    a.reload()
    wait_connected(a)
    expect(message(a, "live 2")).to_be_visible()
    assert layout(a)[-12:] == live[-12:]

    # Scrolled up, new messages count on a "Jump to latest" button that scrolls down.
    scroller = b.locator("#scroller")
    expect(message(b, "live 2")).to_be_visible()
    scroller.evaluate("el => { el.scrollTop = 200; el.dispatchEvent(new Event('scroll')); }")
    jump = b.locator("#jump")
    expect(jump).to_have_text("Jump to latest")
    send(a, "while away 1")
    send(a, "while away 2")
    expect(jump).to_have_text("Jump to latest (2 new)")
    screenshot(b, "jump-to-latest")
    jump.click()
    expect(jump).to_be_hidden()
    assert scroller.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 40
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


def test_the_list_and_the_composer_work_from_the_keyboard(browser, cluster):
    _, (name_a, a), (name_b, b) = two_users_in_room(browser, cluster, "Keys", "keys")
    for text in ("one", "two", "three"):
        send(b, text)
    expect(message(a, "three")).to_be_visible()
    scroller = a.locator("#scroller")
    assert scroller.get_attribute("tabindex") == "0" and scroller.get_attribute("aria-label") == "Messages"
    scroller.focus()
    a.keyboard.press("Tab")
    expect(message(a, "three")).to_be_focused()
    a.keyboard.press("ArrowUp")
    expect(message(a, "two")).to_be_focused()
    expect(message(a, "two").locator(".actions")).to_be_visible()
    a.keyboard.press("Enter")
    expect(message(a, "two").locator(".actions button[data-action=react]")).to_be_focused()
    a.keyboard.press("Escape")
    expect(message(a, "two")).to_be_focused()
    a.keyboard.press("Escape")
    expect(scroller).to_be_focused()
    a.keyboard.press("Tab")  # the list has one stop: the message last focused
    expect(message(a, "two")).to_be_focused()

    # @mention suggestions from the room's online users and authors.
    body = a.locator("#body")
    body.focus()
    a.keyboard.type("hi @" + name_b[:3])
    options = a.locator("#composer .mention-list li[role=option]")
    expect(options).to_contain_text([f"@{name_b}"])
    screenshot(a, "mention-suggestions")
    a.keyboard.press("ArrowDown")
    a.keyboard.press("ArrowUp")
    a.keyboard.press("Enter")
    expect(body).to_have_value(f"hi @{name_b} ")
    expect(a.locator("#composer .mention-list")).to_be_hidden()
    a.keyboard.type("@" + name_b[:3])
    a.keyboard.press("Escape")
    expect(a.locator("#composer .mention-list")).to_be_hidden()
    a.keyboard.press("Enter")  # the list is closed: Enter sends
    mention = message(b, "hi @").locator(".mention-me")
    expect(mention).to_have_text(f"@{name_b}")
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()


SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def test_screenshots_of_a_conversation_a_thread_and_the_picker(browser, cluster):
    [room] = cluster.make_rooms(["Design review"])
    (alice, key_a), (bob, key_b), (carol, key_c) = cluster.make_users(["alice", "bob", "carol"])
    say = lambda key, body, **extra: post(  # noqa: E731
        cluster,
        key,
        room,
        [
            {
                "type": "message.send",
                "room": room,
                "body": body,
                "client_msg_id": f"s{abs(hash(body))}",
                **extra,
            }
        ],
    )[0]
    say(
        key_a,
        "Morning! The **release notes** are in `docs/release.md`; see [the draft](https://example.com/draft).",
    )
    say(key_a, "Two things left:\n- fix the *flaky* test\n- bump `nh3` to 0.3")
    question = say(
        key_b,
        f"@{alice} does this look right?\n```python\ndef total(xs):\n    return sum(x.price for x in xs)\n```",
    )
    say(key_c, "> ship it on Friday?\nI'd rather wait for Monday :sweat_smile:")
    edited = say(key_a, "Thanks, merging now")
    gone = say(key_b, "oops, wrong room")
    say(key_c, "Looks good to me 🚀 one more line to see how a long message wraps on a narrow phone screen")
    post(
        cluster,
        key_a,
        room,
        [
            {
                "type": "message.edit",
                "room": room,
                "id": edited["id"],
                "body": "Thanks, merging now (after CI)",
            },
            {"type": "reaction.add", "room": room, "id": question["id"], "emoji": "👍"},
            {"type": "reaction.add", "room": room, "id": question["id"], "emoji": "🎉"},
            {
                "type": "message.send",
                "room": room,
                "body": "Yes, but round it",
                "client_msg_id": "r1",
                "reply_to": question["id"],
            },
        ],
    )
    post(
        cluster,
        key_c,
        room,
        [
            {"type": "reaction.add", "room": room, "id": question["id"], "emoji": "👍"},
            {
                "type": "message.send",
                "room": room,
                "body": "Agreed, **round** it",
                "client_msg_id": "r2",
                "reply_to": question["id"],
            },
        ],
    )
    post(cluster, key_b, room, [{"type": "message.delete", "room": room, "id": gone["id"]}])

    for lang, locale in (("en", "en-US"), ("ko", "ko-KR")):
        for size, viewport in SIZES.items():
            page = page_for(browser, cluster, 0, key_b, locale=locale)
            page.set_viewport_size(viewport)
            page.goto(f"/rooms/{room}/")
            wait_connected(page)
            summary = message(page, "does this look right").locator(".thread-summary")
            expect(summary.locator(".reply-count")).to_be_visible()
            expect(page.locator("#messages li.deleted")).to_have_count(1)
            page.locator("#scroller").evaluate("el => { el.scrollTop = el.scrollHeight; }")
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            screenshot(page, f"messages-{size}-{lang}")
            summary.click()
            expect(page.locator("#thread-replies li.message")).to_have_count(2)
            # A full-screen sheet on the phone: what it covers is out of the tab order.
            assert page.evaluate("document.getElementById('main').inert") == (size == "phone")
            screenshot(page, f"thread-{size}-{lang}")
            page.locator("#thread-close").click()
            item = message(page, "Thanks, merging")
            action(page, item, "react")
            expect(page.locator("#reaction-picker")).to_be_visible()
            screenshot(page, f"picker-{size}-{lang}")
            page.keyboard.press("Escape")
            assert page.errors == []
            page.context.close()


def test_a_moderator_sees_earlier_versions_and_deletes_another_s_message(browser, cluster):
    [room] = cluster.make_rooms(["Moderated"])
    (author, key_author), (mod, key_mod), (_, key_member) = cluster.make_users(
        ["writer", "modmia", "plainpat"]
    )
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_member_add(room_slug={room!r}, actor=None, username={mod!r}, as_admin=True)\n"
        f"rooms.room_role_set(room_slug={room!r}, actor=None, username={mod!r}, role='moderator', as_admin=True)\n"
        "print('ok')"
    )
    [sent, spam] = post(
        cluster,
        key_author,
        room,
        [
            {"type": "message.send", "room": room, "body": "meet at **3pm**", "client_msg_id": "v1"},
            {"type": "message.send", "room": room, "body": "buy cheap watches", "client_msg_id": "v2"},
        ],
    )
    for body in ("meet at **4pm**", "meet at **4pm** in room B"):
        post(
            cluster,
            key_author,
            room,
            [{"type": "message.edit", "room": room, "id": sent["id"], "body": body}],
        )

    member = page_for(browser, cluster, 0, key_member)
    member.goto(f"/rooms/{room}/")
    wait_connected(member)
    edited = message(member, "in room B")
    edited.hover()
    # A member: no one else's history, no one else's delete (and the server refuses both anyway).
    expect(edited.locator(".actions button[data-action=react]")).to_be_visible()
    expect(edited.locator(".actions button[data-action=history]")).to_be_hidden()
    expect(edited.locator(".actions button[data-action=delete]")).to_be_hidden()

    for locale, phone, title, first, current in (
        ("en-US", False, "Edit history", f"Posted by {author}", "current"),
        ("en-US", True, "Edit history", f"Posted by {author}", "current"),
        ("ko-KR", False, "수정 기록", f"{author}님이 작성함", "현재"),
        ("ko-KR", True, "수정 기록", f"{author}님이 작성함", "현재"),
    ):
        page = page_for(browser, cluster, 1, key_mod, locale=locale)  # the other node
        if phone:
            page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"/rooms/{room}/")
        wait_connected(page)
        edited = message(page, "in room B")
        if phone:  # no hover on a phone: focus the message, then Tab into its actions
            edited.focus()
            edited.locator(".actions button[data-action=history]").click()
        else:
            action(page, edited, "history")
        dialog = page.locator("#edit-history")
        expect(dialog).to_be_visible()
        expect(dialog.locator("h2")).to_have_text(title)
        versions = dialog.locator("#edit-history-list li")
        expect(versions).to_have_count(3)  # newest first: the current body, then the two before it
        expect(versions.nth(0)).to_contain_text(current)
        expect(versions.nth(0).locator(".body")).to_have_text("meet at 4pm in room B")
        expect(versions.nth(1).locator(".body strong")).to_have_text("4pm")
        expect(versions.nth(2)).to_contain_text(first)
        expect(versions.nth(2).locator(".body strong")).to_have_text("3pm")
        screenshot(page, "edit-history" + ("-phone" if phone else "") + ("-ko" if locale == "ko-KR" else ""))
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        if locale == "en-US" and not phone:
            # The moderator deletes the author's spam; everyone, on both nodes, sees it go.
            spam_item = message(page, "cheap watches")
            spam_item.hover()
            expect(spam_item.locator(".actions button[data-action=delete]")).to_be_visible()
            screenshot(page, "moderator-actions")
            action(page, spam_item, "delete")
            page.locator("#confirm-delete button[value=delete]").click()
            expect(member.locator(f"#messages li.message[data-id='{spam['id']}'] .body")).to_have_text(
                "message deleted"
            )
        assert page.errors == []
        page.context.close()
    assert member.errors == []
