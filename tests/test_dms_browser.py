"""Direct messages, server unread counts and system lines in the web UI, in headless Chromium
against a real two-node cluster: a DM opened from the "New message" dialog between browsers on
different nodes, a non-member's 404, a read in one browser clearing the badge in another browser of
the same user on the other node within a second, and system lines. Screenshots go to test-artifacts/.
"""

import re

import pytest

from chat.testing.clients import WsClient
from tests import test_browser
from tests.test_browser import page_for, playwright_api, run_async, screenshot, send, wait_connected
from tests.test_client_app_browser import AXE, axe_violations
from tests.waiting import wait_until_sync

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
    expect.set_options(timeout=5_000)


def set_display_name(cluster, username: str, name: str) -> None:
    cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import profiles\n"
        f"profiles.profile_update(user=get_user_model().objects.get(username={username!r}), display_name={name!r})\n"
        "print('ok')"
    )


def open_dm(cluster, opener: str, others: list[str]) -> str:
    """A DM through the service (as `dm.open` would); returns its slug."""
    return cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import dms\n"
        f"room, _ = dms.dm_open(opener=get_user_model().objects.get(username={opener!r}), usernames={others!r})\n"
        "print(room.slug)"
    )


def private_room(cluster, owner: str, title: str, members: list[str]) -> str:
    """A private room owned by `owner` with these members added (system lines); returns its slug."""
    return cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import rooms\n"
        "U = get_user_model().objects\n"
        f"room = rooms.room_create(creator=U.get(username={owner!r}), title={title!r}, is_private=True)\n"
        f"for name in {members!r}: rooms.room_member_add(room_slug=room.slug, actor=U.get(username={owner!r}), username=name)\n"
        "print(room.slug)"
    )


def add_member(cluster, room: str, actor: str, username: str) -> None:
    cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import rooms\n"
        f"rooms.room_member_add(room_slug={room!r}, actor=get_user_model().objects.get(username={actor!r}), username={username!r})\n"
        "print('ok')"
    )


def dm_item(page, slug: str):
    return page.locator(f'#dms li[data-slug="{slug}"]')


def pick(page, query: str, username: str) -> None:
    """Type in the dialog's field and pick `username` from the suggestions with the keyboard."""
    page.fill("#dm-picker-input", query)
    option = page.locator(f'#dm-picker-results [role=option][data-username="{username}"]')
    expect(option).to_be_visible()
    while option.get_attribute("aria-selected") != "true":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#dm-picked .dm-chip", has_text=re.compile(".+"))).not_to_have_count(0)


def test_a_dm_opened_from_the_picker_reaches_a_browser_on_the_other_node(browser, cluster):
    (alice, alice_key), (bob, bob_key), (bobby, _) = cluster.make_users(["dmalice", "dmbob", "dmbobby"])
    set_display_name(cluster, bob, "Bob Painter")
    alice_page = page_for(browser, cluster, 0, alice_key)
    bob_page = page_for(browser, cluster, 1, bob_key)
    for page in (alice_page, bob_page):
        page.goto("/")
        wait_connected(page)

    alice_page.locator("#dm-new").click()
    dialog = alice_page.locator("#dm-picker")
    expect(dialog).to_be_visible()
    expect(alice_page.locator("#dm-picker-input")).to_be_focused()
    # A search by a word of the display name finds bob (and not alice herself); a prefix of the
    # username finds both bobs.
    alice_page.fill("#dm-picker-input", "paint")
    expect(alice_page.locator("#dm-picker-results [role=option]")).to_have_count(1)
    expect(alice_page.locator("#dm-picker-results [role=option]")).to_contain_text("Bob Painter")
    alice_page.fill("#dm-picker-input", "dm")
    expect(alice_page.locator("#dm-picker-results [role=option]")).to_have_count(2)  # dmbob, dmbobby
    assert alice not in alice_page.locator("#dm-picker-results").inner_text()
    pick(alice_page, "dmb", bob)
    expect(alice_page.locator("#dm-picked .dm-chip")).to_have_text([re.compile("Bob Painter")])
    expect(alice_page.locator("#dm-picker-input")).to_have_value("")
    expect(alice_page.locator("#dm-picker-input")).to_be_focused()
    alice_page.keyboard.press("Enter")  # with nothing typed: start the conversation

    expect(dialog).to_be_hidden()
    expect(alice_page).to_have_url(re.compile(r"/dm/dm-[A-Za-z0-9_-]{20}/$"))
    slug = alice_page.url.rstrip("/").rsplit("/", 1)[1]
    expect(alice_page.locator("#room-title")).to_have_text(bob)
    expect(dm_item(alice_page, slug)).to_have_attribute("aria-current", "page")
    expect(alice_page.locator("#body")).to_be_focused()
    # The DM appears live in bob's list, on the other node, under the other person's name.
    expect(dm_item(bob_page, slug)).to_have_text(re.compile(alice))

    send(alice_page, "hello bob")
    toast = bob_page.locator("#toasts .toast")
    expect(toast).to_contain_text(f"{alice} sent you a message: hello bob")
    badge = dm_item(bob_page, slug).locator(".mention-badge")
    expect(badge).to_have_text("1")  # a DM's messages are for you: the red badge
    expect(bob_page).to_have_title(re.compile(r"^\(1\) "))
    dm_item(bob_page, slug).locator("a").click()
    expect(bob_page).to_have_url(re.compile(f"/dm/{slug}/$"))
    expect(bob_page.locator("#room-title")).to_have_text(alice)
    expect(bob_page.locator("#messages li.message .body")).to_have_text(["hello bob"])
    expect(badge).to_have_count(0)
    send(bob_page, "hi alice")
    expect(alice_page.locator("#messages li.message:not(.outgoing) .body")).to_have_text(
        ["hello bob", "hi alice"]
    )
    # Opening the same person again answers the same conversation.
    alice_page.locator("#dm-new").click()
    pick(alice_page, bob, bob)
    alice_page.locator("#dm-picker-go").click()
    expect(dialog).to_be_hidden()
    expect(alice_page.locator("#dms li[data-slug]")).to_have_count(1)
    for page in (alice_page, bob_page):
        assert page.errors == []
        page.context.close()


def test_a_non_member_opening_a_dm_link_gets_the_404_page(browser, cluster):
    (alice, _), (bob, _), (eve, eve_key) = cluster.make_users(["nmalice", "nmbob", "nmeve"])
    slug = open_dm(cluster, alice, [bob])
    page = page_for(browser, cluster, 1, eve_key)
    for path in (f"/dm/{slug}/", f"/rooms/{slug}/"):
        response = page.goto(path)
        assert response.status == 404, path
        expect(page.locator("h1")).to_have_text("There is nothing here")
        assert slug not in page.content().replace(path, "")
    page.goto("/")
    wait_connected(page)
    expect(page.locator("#dms li[data-slug]")).to_have_count(0)
    expect(page.locator("#dms .empty")).to_be_visible()
    assert page.errors == []
    page.context.close()


CLEARED_AT = """(slug) => {
  window.__clearedAt = null;
  const item = document.querySelector(`#rooms li[data-slug="${slug}"]`);
  new MutationObserver(() => {
    if (window.__clearedAt === null && !item.querySelector(".badge")) window.__clearedAt = Date.now();
  }).observe(item, { childList: true, subtree: true });
}"""

READS_SENT = """() => {
  window.__readsSent = [];
  const send = window.chatClient.send.bind(window.chatClient);
  window.chatClient.send = (frame) => { if (frame.type === "read") window.__readsSent.push(Date.now()); return send(frame); };
}"""


def test_a_read_in_one_browser_clears_the_badge_in_another_on_the_other_node_within_a_second(
    browser, cluster
):
    [slug] = cluster.make_rooms(["Badges"])
    (alice, alice_key), (bob, bob_key) = cluster.make_users(["badgealice", "badgebob"])

    async def setup() -> None:
        writer = await WsClient.connect(cluster.nodes[0].port, alice_key)
        reader = await WsClient.connect(cluster.nodes[1].port, bob_key)
        first = await writer.send_message(slug, "first", "bb1")
        await reader.send({"type": "read", "room": slug, "seq": first["seq"]})  # bob follows the room
        await reader.recv_type("read.updated")
        for i in range(2):
            await writer.send_message(slug, f"unread {i}", f"bb2-{i}")
        await writer.send_message(slug, f"and @{bob}", "bb3")
        await writer.close(), await reader.close()

    run_async(setup())
    laptop = page_for(browser, cluster, 1, bob_key)  # the lobby, on node 2
    laptop.goto("/")
    wait_connected(laptop)
    item = laptop.locator(f'#rooms li[data-slug="{slug}"]')
    expect(item.locator(".unread-badge")).to_have_text("3")
    expect(item.locator(".mention-badge")).to_have_text("@1")
    expect(item).to_have_class(re.compile(r"\bunread\b"))
    expect(item.locator(".visually-hidden")).to_have_text(", 3 unread messages, 1 mention")
    expect(laptop).to_have_title("(3) Chat")
    laptop.evaluate(CLEARED_AT, slug)

    phone = page_for(browser, cluster, 0, bob_key)  # the room itself, on node 1
    phone.goto("/")
    wait_connected(phone)
    phone.evaluate(READS_SENT)
    phone.bring_to_front()
    phone.locator(f'#rooms li[data-slug="{slug}"] a').click()  # opened in place: watched from here
    expect(phone.locator("#messages li.message")).to_have_count(4)
    sent = wait_until_sync(lambda: phone.evaluate("window.__readsSent"), "the phone never sent `read`")
    cleared = wait_until_sync(lambda: laptop.evaluate("window.__clearedAt"), "the laptop's badge stays")
    assert cleared - sent[0] < 1000, f"the laptop's badge cleared {cleared - sent[0]} ms after the read"
    expect(item.locator(".badge")).to_have_count(0)
    expect(item).not_to_have_class(re.compile(r"\bunread\b"))
    expect(laptop).to_have_title("Chat")
    for page in (laptop, phone):
        assert page.errors == []
        page.context.close()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_member_added_shows_a_system_line_that_is_never_unread(browser, cluster, lang):
    names = [f"sys{lang}owner", f"sys{lang}carol", f"sys{lang}bob"]
    (owner, owner_key), (carol, carol_key), (bob, _) = cluster.make_users(names)
    slug = private_room(cluster, owner, f"Team {lang}", [carol])
    locale = "ko-KR" if lang == "ko" else "en-US"
    owner_page = page_for(browser, cluster, 0, owner_key, locale=locale)
    owner_page.goto(f"/rooms/{slug}/")
    wait_connected(owner_page)
    added_carol = {"en": f"{owner} added {carol}", "ko": f"{owner}가 {carol}을(를) 추가했습니다"}[lang]
    expect(owner_page.locator("#messages li.message.system .body")).to_have_text([added_carol])
    carol_page = page_for(browser, cluster, 1, carol_key, locale=locale)  # on the other node, in the lobby
    carol_page.goto("/")
    wait_connected(carol_page)
    expect(carol_page.locator(f'#rooms li[data-slug="{slug}"]')).to_be_visible()

    add_member(cluster, slug, owner, bob)
    added_bob = {"en": f"{owner} added {bob}", "ko": f"{owner}가 {bob}을(를) 추가했습니다"}[lang]
    line = owner_page.locator("#messages li.message.system").nth(1)
    expect(line.locator(".body")).to_have_text(added_bob)
    # Centred and muted, with no author, avatar or actions.
    assert line.evaluate("(li) => getComputedStyle(li.querySelector('.system-line')).textAlign") == "center"
    assert line.locator(".actions, .avatar, .author, .reaction-add").count() == 0
    line.hover()
    # A message after it, then: carol's count has the message only, never the system lines.
    send(owner_page, "welcome")
    item = carol_page.locator(f'#rooms li[data-slug="{slug}"]')
    expect(item.locator(".unread-badge")).to_have_text("1")
    # Other events, localized.
    cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import rooms\n"
        f"o = get_user_model().objects.get(username={owner!r})\n"
        f"rooms.room_role_set(room_slug={slug!r}, actor=o, username={bob!r}, role='moderator')\n"
        f"rooms.room_update(room_slug={slug!r}, actor=o, title='Renamed', description='New')\n"
        "print('ok')"
    )
    expected = {
        "en": [f"{owner} made {bob} a moderator", f"{owner} changed the room's title and description"],
        "ko": [
            f"{owner}가 {bob}을(를) 운영자로 지정했습니다",
            f"{owner}가 방의 제목 및 설명을(를) 바꿨습니다",
        ],
    }[lang]
    expect(owner_page.locator("#messages li.message.system .body")).to_have_text(
        [added_carol, added_bob, *expected]
    )
    expect(item.locator(".unread-badge")).to_have_text("1")
    screenshot(owner_page, f"dm-system-lines-{lang}")
    for page in (owner_page, carol_page):
        assert page.errors == []
        page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_new_message_dialog_has_no_serious_accessibility_violations(browser, cluster, scheme):
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs tests/axe (npm ci)")
    (alice, alice_key), (bob, _), _ = cluster.make_users(
        [f"axe{scheme}dmalice", f"axe{scheme}dmbob", f"axe{scheme}dmcy"]
    )
    slug = open_dm(cluster, alice, [bob])
    base = cluster.nodes[0].http_url
    context = browser.new_context(
        base_url=base, bypass_csp=True, color_scheme=scheme, viewport={"width": 1280, "height": 800}
    )
    context.add_cookies([{"name": "sessionid", "value": alice_key, "url": base}])
    page = context.new_page()
    page.goto(f"/dm/{slug}/")
    wait_connected(page)
    expect(page.locator("#room-title")).to_have_text(bob)
    page.locator("#dm-new").click()
    page.fill("#dm-picker-input", f"axe{scheme}")
    expect(page.locator("#dm-picker-results [role=option]")).to_have_count(2)  # not alice herself
    page.keyboard.press("Enter")
    expect(page.locator("#dm-picked .dm-chip")).to_have_count(1)
    page.fill("#dm-picker-input", f"axe{scheme}dm")
    expect(page.locator("#dm-picker-results [role=option]")).to_have_count(1)  # bob is picked already
    assert axe_violations(page) == []
    context.close()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_screenshots_of_direct_messages_and_the_picker(browser, cluster, lang):
    people = {
        "en": [("shot{}me", ""), ("shot{}ana", "Ana Lima"), ("shot{}ben", "Ben Ito"), ("shot{}cy", "")],
        "ko": [("shot{}me", ""), ("shot{}ana", "김아나"), ("shot{}ben", "이벤"), ("shot{}cy", "")],
    }[lang]
    users = cluster.make_users([name.format(lang) for name, _ in people])
    for (name, _), (_, display) in zip(users, people, strict=True):
        if display:
            set_display_name(cluster, name, display)
    (me, me_key), (ana, ana_key), (ben, _), (cy, _) = users
    [room] = cluster.make_rooms([{"en": "General", "ko": "일반"}[lang]])
    one = open_dm(cluster, ana, [me])
    open_dm(cluster, me, [ben, cy])
    line = {"en": "Lunch at noon?", "ko": "점심 12시에 어때요?"}[lang]

    async def talk(shot: str) -> None:
        writer = await WsClient.connect(cluster.nodes[1].port, ana_key)
        await writer.send_message(one, line, f"shot-dm-{shot}")
        await writer.send_message(room, line + f" @{me}", f"shot-room-{shot}")
        await writer.close()

    for scheme in ("light", "dark"):
        for width, height in ((1280, 800), (390, 844)):
            run_async(talk(f"{lang}-{scheme}-{width}"))  # unread again: the last round read them
            page = page_for(browser, cluster, 0, me_key, locale="ko-KR" if lang == "ko" else "en-US")
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size({"width": width, "height": height})
            page.goto("/")
            wait_connected(page)
            expect(dm_item(page, one).locator(".mention-badge")).to_have_text("1")
            # The other person's initials from their profile (users.fetch), not the username's letter.
            expect(dm_item(page, one).locator(".dm-avatar")).to_have_text({"en": "AL", "ko": "김"}[lang])
            screenshot(page, f"dm-list-{width}-{scheme}-{lang}")
            page.locator("#dm-new").click()
            page.fill("#dm-picker-input", f"shot{lang}")
            expect(page.locator("#dm-picker-results [role=option]")).to_have_count(3)
            page.keyboard.press("Enter")
            page.fill("#dm-picker-input", f"shot{lang}b")
            expect(page.locator("#dm-picker-results [role=option]")).to_have_count(1)
            screenshot(page, f"dm-picker-{width}-{scheme}-{lang}")
            page.keyboard.press("Escape")
            expect(page.locator("#dm-picker")).to_be_hidden()
            expect(page.locator("#dm-new")).to_be_focused()
            dm_item(page, one).locator("a").click()
            expect(page.locator("#messages li.message .body").last).to_have_text(line)
            expect(page.locator("#history-status")).to_have_text(
                {"en": "This is the beginning of the conversation.", "ko": "대화의 처음입니다."}[lang]
            )
            if width < 640:
                expect(page.locator("#sidebar")).to_be_hidden()  # the drawer has slid away
            page.mouse.move(1, height - 1)  # no hover actions in the picture
            screenshot(page, f"dm-open-{width}-{scheme}-{lang}")
            assert page.errors == []
            page.context.close()
