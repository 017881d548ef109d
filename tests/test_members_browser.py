"""Rooms people run themselves, and people's faces, in headless Chromium on a real two-node
cluster: the room settings dialog (invite, roles, what each role sees, leaving, the last owner's
error), the member list panel (presence live, roles), display names and avatars on messages (a
profile change shows live in another browser), axe-core with the panel and the dialog open, and
screenshots (test-artifacts/members-*.png, settings-*.png)."""

import json

import pytest
from websockets.sync import client as websockets_sync

from tests import test_browser
from tests.test_browser import page_for, screenshot, send, wait_connected
from tests.test_client_app_browser import AXE, axe_violations, post_as, room_link
from tests.waiting import wait_until_sync

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.cluster, pytest.mark.browser]
cluster = test_browser.cluster
browser = test_browser.browser


@pytest.fixture(autouse=True)
def _patient_expectations():
    """Generous waits: two nodes and a browser share a small, busy machine."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


def private_room(cluster, owner: str, title: str, members: dict[str, str] | None = None) -> str:
    """A private room created by `owner` (its owner), with other members at the given roles."""
    code = (
        "from django.contrib.auth import get_user_model; from chat.domain import rooms\n"
        f"owner = get_user_model().objects.get(username={owner!r})\n"
        f"room = rooms.room_create(creator=owner, title={title!r}, is_private=True, limit_rate=False)\n"
        f"for name, role in {members or {}!r}.items():\n"
        "    rooms.room_member_add(room_slug=room.slug, actor=owner, username=name)\n"
        "    if role != 'member': rooms.room_role_set(room_slug=room.slug, actor=owner, username=name, role=role)\n"
        "print(room.slug)"
    )
    return cluster.django(code)


def set_display_name(cluster, username: str, display_name: str) -> None:
    cluster.django(
        "from django.contrib.auth import get_user_model; from chat.domain import profiles\n"
        f"profiles.profile_save(user=get_user_model().objects.get(username={username!r}), display_name={display_name!r})\n"
        "print('ok')"
    )


def open_room(page, slug: str) -> None:
    page.goto(f"/rooms/{slug}/")
    wait_connected(page)


def open_members(page):
    page.locator("#members-toggle").click()
    expect(page.locator("#members")).to_be_visible()
    return page.locator("#members")


def member_row(page, username: str):
    return page.locator(f'#members li.member[data-username="{username}"]')


def open_settings(page):
    page.locator("#settings-toggle").click()
    expect(page.locator("#room-settings")).to_be_visible()
    return page.locator("#room-settings")


def test_an_owner_invites_from_the_settings_and_the_invitee_on_the_other_node_sees_the_room(browser, cluster):
    (alice, alice_key), (bob, bob_key) = cluster.make_users(["inv_alice", "inv_bob"])
    slug = private_room(cluster, alice, "Invite club")
    owner = page_for(browser, cluster, 0, alice_key)
    invitee = page_for(browser, cluster, 1, bob_key)
    open_room(owner, slug)
    invitee.goto("/")
    wait_connected(invitee)
    expect(room_link(invitee, slug)).to_have_count(0)

    # The member list: the owner alone, online, labelled owner.
    open_members(owner)
    expect(member_row(owner, alice)).to_have_attribute("data-presence", "online")
    expect(member_row(owner, alice).locator(".role-tag")).to_have_text("owner")
    expect(owner.locator("#members-toggle")).to_have_attribute("aria-expanded", "true")

    # Settings, keyboard only: the username, Enter.
    dialog = open_settings(owner)
    expect(dialog.locator("#settings-about")).to_be_visible()
    dialog.locator("#settings-invite-user").fill("nobody_here")
    dialog.locator("#settings-invite-user").press("Enter")
    expect(dialog.locator("#settings-members-error")).to_have_text(
        "There is no active user with that username."
    )
    dialog.locator("#settings-invite-user").fill(bob)
    dialog.locator("#settings-invite-user").press("Enter")
    expect(dialog.locator("#settings-members-error")).to_have_text(f"{bob} was added.")
    expect(dialog.locator(f'li.settings-member[data-username="{bob}"]')).to_be_visible()

    # On the other node, the room appears in bob's list, live, and opens in place with the line.
    expect(room_link(invitee, slug)).to_be_visible()
    room_link(invitee, slug).click()
    expect(invitee.locator("#room-title")).to_have_text("Invite club")
    expect(invitee.locator("#messages")).to_contain_text(f"added {bob}")
    # A member: the settings offer leaving only.
    invitee_dialog = open_settings(invitee)
    expect(invitee_dialog.locator("#settings-leave-button")).to_be_visible()
    for hidden in ("#settings-about", "#settings-invite", "#settings-archive"):
        expect(invitee_dialog.locator(hidden)).to_be_hidden()
    expect(invitee_dialog.locator("select.role-select")).to_have_count(0)
    expect(invitee_dialog.locator("button.remove-member")).to_have_count(0)
    invitee.keyboard.press("Escape")
    expect(invitee.locator("#room-settings")).to_be_hidden()
    expect(invitee.locator("#settings-toggle")).to_be_focused()

    # The owner's panel (behind the dialog) shows bob online now that he reads the room.
    owner.keyboard.press("Escape")
    expect(member_row(owner, bob)).to_have_attribute("data-presence", "online")
    # Bob goes offline (closes the page): live, under a heading that says so (not colour alone).
    invitee.context.close()
    # At once over WebSocket; over SockJS's HTTP transports (a loaded machine may fall back to them)
    # when the session ends, CHAT_SOCKJS_DISCONNECT_DELAY (5 s) later; at worst, a lost leave, when
    # the presence entry expires (CHAT_PRESENCE_TTL, 25 s).
    expect(member_row(owner, bob)).to_have_attribute("data-presence", "offline", timeout=40_000)
    expect(owner.locator("#members .members-group.offline h3")).to_contain_text("Offline")
    # Escape closes the panel and gives the focus back to its button.
    member_row(owner, alice).click()
    owner.locator("#members .members-close").focus()
    owner.keyboard.press("Escape")
    expect(owner.locator("#members")).to_be_hidden()
    expect(owner.locator("#members-toggle")).to_be_focused()
    assert owner.errors == []
    owner.context.close()


def test_a_moderator_and_a_member_see_only_what_their_role_allows(browser, cluster):
    (alice, alice_key), (mod, mod_key), (mem, mem_key) = cluster.make_users(["rl_alice", "rl_mod", "rl_mem"])
    slug = private_room(cluster, alice, "Roles club", {mod: "moderator", mem: "member"})
    owner = page_for(browser, cluster, 0, alice_key)
    moderator = page_for(browser, cluster, 1, mod_key)
    member = page_for(browser, cluster, 0, mem_key)
    for page in (owner, moderator, member):
        open_room(page, slug)

    # The owner: every section, a role for each member, remove anyone but herself.
    dialog = open_settings(owner)
    expect(dialog.locator("#settings-your-role")).to_have_text("Your role: owner")
    expect(dialog.locator("select.role-select")).to_have_count(3)
    expect(dialog.locator("button.remove-member")).to_have_count(2)

    # The moderator: title, privacy, archive and invite; remove members only; no roles.
    dialog = open_settings(moderator)
    expect(dialog.locator("#settings-your-role")).to_have_text("Your role: moderator")
    for visible in ("#settings-about", "#settings-invite", "#settings-archive", "#settings-leave-button"):
        expect(dialog.locator(visible)).to_be_visible()
    expect(dialog.locator("select.role-select")).to_have_count(0)
    expect(dialog.locator("li.settings-member")).to_have_count(3)
    expect(dialog.locator("button.remove-member")).to_have_count(1)
    expect(dialog.locator(f'li.settings-member[data-username="{mem}"] button.remove-member')).to_be_visible()
    # A rename by the moderator reaches everyone, on both nodes.
    dialog.locator("#settings-title").fill("Roles club, renamed")
    dialog.locator("#settings-about button[type=submit]").click()
    expect(dialog.locator("#settings-about-error")).to_have_text("Saved.")
    expect(member.locator("#room-title")).to_have_text("Roles club, renamed")
    # A blank title: refused inline (the server says invalid_field).
    dialog.locator("#settings-title").fill(" ")
    dialog.locator("#settings-title").evaluate("(node) => node.removeAttribute('required')")
    dialog.locator("#settings-about button[type=submit]").click()
    expect(dialog.locator("#settings-about-error")).to_contain_text("a title is 1 to 120 characters")
    expect(dialog.locator("#settings-about-error")).to_have_class("settings-error is-error")

    # The member: leaving only.
    dialog = open_settings(member)
    expect(dialog.locator("#settings-your-role")).to_have_text("Your role: member")
    for hidden in ("#settings-about", "#settings-invite", "#settings-archive"):
        expect(dialog.locator(hidden)).to_be_hidden()
    expect(dialog.locator("#settings-leave-button")).to_be_visible()
    member.keyboard.press("Escape")

    # The owner makes the member a moderator: the member's dialog offers running the room, live.
    owner.locator(
        f'#room-settings li.settings-member[data-username="{mem}"] select.role-select'
    ).select_option("moderator")
    wait_until_sync(
        lambda: (
            cluster.sql(
                "SELECT m.role FROM chat_membership m JOIN auth_user u ON u.id = m.user_id "
                "JOIN chat_room r ON r.id = m.room_id WHERE u.username = ? AND r.slug = ?",
                mem,
                slug,
            )
            == [("moderator",)]
        ),
        "the role is stored",
    )
    dialog = open_settings(member)
    expect(dialog.locator("#settings-your-role")).to_have_text("Your role: moderator")
    expect(dialog.locator("#settings-about")).to_be_visible()
    for page in (owner, moderator, member):
        assert page.errors == []
        page.context.close()


def test_the_last_owner_is_told_to_hand_over_then_leaves_to_the_lobby_in_place(browser, cluster):
    (alice, alice_key), (bob, _) = cluster.make_users(["lo_alice", "lo_bob"])
    slug = private_room(cluster, alice, "Last owner club", {bob: "member"})
    page = page_for(browser, cluster, 0, alice_key)
    open_room(page, slug)
    page.evaluate("window.__marker = 'kept'")
    dialog = open_settings(page)
    dialog.locator("#settings-leave-button").click()
    dialog.locator("#settings-leave-confirm button.danger").click()
    expect(dialog.locator("#settings-leave-error")).to_contain_text("You are the last owner of this room")
    expect(dialog.locator("#settings-leave-button")).to_be_focused()
    # Hand over: bob becomes an owner; then alice may leave, and the app goes to the lobby in place.
    dialog.locator(f'li.settings-member[data-username="{bob}"] select.role-select').select_option("owner")
    expect(dialog.locator("#settings-members-error")).to_have_text("")
    wait_until_sync(
        lambda: (
            page.evaluate(
                "(u) => { const s = document.querySelector(`li.settings-member[data-username='${u}'] select`); return s && s.value; }",
                bob,
            )
            == "owner"
        ),
        "bob is shown as an owner",
    )
    dialog.locator("#settings-leave-button").click()
    dialog.locator("#settings-leave-confirm button.danger").click()
    expect(page.locator("#room-settings")).to_be_hidden()
    expect(page.locator("#welcome")).to_be_visible()
    expect(page).to_have_url(f"{cluster.nodes[0].http_url}/")
    expect(room_link(page, slug)).to_have_count(0)
    assert page.evaluate("window.__marker") == "kept"  # no page load
    expect(page.locator("#toasts")).not_to_contain_text("no longer have access")
    assert page.errors == []
    page.context.close()


def test_display_names_and_avatars_on_messages_follow_a_profile_change_live(browser, cluster):
    (alice, alice_key), (bob, bob_key) = cluster.make_users(["face_alice", "face_bob"])
    room = private_room(cluster, alice, "Faces", {bob: "member"})
    set_display_name(cluster, bob, "Bob Builder")
    post_as(cluster, bob_key, room, "an old message", "face-1")
    reader = page_for(browser, cluster, 0, alice_key)
    open_room(reader, room)
    author = reader.locator(f'#messages li.message[data-author="{bob}"] .author')
    expect(author).to_have_text("Bob Builder")
    expect(author).to_have_attribute("title", f"@{bob}")
    avatar = reader.locator(f'#messages li.message[data-author="{bob}"] .avatar')
    expect(avatar).to_have_text("BB")
    color = avatar.evaluate("(node) => getComputedStyle(node).backgroundColor")
    assert color not in ("", "rgba(0, 0, 0, 0)")
    send(reader, "and mine")
    expect(reader.locator('#messages li.message:not(.outgoing):not([data-author=""]) .author')).to_have_text(
        ["Bob Builder", alice]
    )

    # Bob renames himself on the profile page, on the other node: the name changes in place.
    writer = page_for(browser, cluster, 1, bob_key)
    writer.goto("/accounts/profile/")
    writer.locator("#id_display_name").fill("Robert <b>B</b>")
    writer.locator("form.profile-form button[type=submit]").click()
    expect(writer.locator("p.notice[role=status]")).to_be_visible()
    expect(author).to_have_text("Robert <b>B</b>")  # text, never HTML
    expect(reader.locator("#messages li.message .author b")).to_have_count(0)
    expect(avatar).to_have_text("R<")  # the server's initials, as text
    # The member list shows the new name too, as text, and the presence line.
    open_members(reader)
    expect(member_row(reader, bob).locator(".member-name")).to_have_text("Robert <b>B</b>")
    expect(member_row(reader, bob).locator(".member-handle")).to_have_text(f"@{bob}")
    expect(reader.locator("#members b")).to_have_count(0)
    # A reconnect fetches the users shown again.
    reader.evaluate("window.chatClient.ws.close()")
    wait_connected(reader)
    set_display_name(cluster, bob, "Bobby")
    expect(author).to_have_text("Bobby")
    assert reader.errors == [] and writer.errors == []
    reader.context.close()
    writer.context.close()


def _scene(cluster, prefix: str, lang: str):
    """A private room with an owner, a moderator and a member, and a few messages."""
    names = [f"{prefix}_owner", f"{prefix}_mod", f"{prefix}_mem"]
    users = cluster.make_users(names)
    display = {"en": ["Ada Lovelace", "Grace Hopper", "Alan Turing"], "ko": ["김영희", "이철수", "박민수"]}[
        lang
    ]
    for (name, _), shown in zip(users, display, strict=True):
        set_display_name(cluster, name, shown)
    title = {"en": "Design review", "ko": "디자인 검토"}[lang]
    slug = private_room(cluster, names[0], title, {names[1]: "moderator", names[2]: "member"})
    lines = {
        "en": [
            "Morning! The **build** is green again.",
            "Can someone look at `deploy.yml`?",
            "Sure, after lunch.",
        ],
        "ko": [
            "좋은 아침! **빌드**가 다시 통과했어요.",
            "`deploy.yml` 좀 봐 줄래요?",
            "네, 점심 먹고 볼게요.",
        ],
    }[lang]
    for i, ((_, key), line) in enumerate(zip([users[1], users[2], users[1]], lines, strict=True)):
        post_as(cluster, key, slug, line, f"{prefix}-{i}")
    return slug, users


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_member_panel_and_settings_dialog_have_no_serious_accessibility_violations(
    browser, cluster, scheme
):
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs tests/axe (npm ci)")
    slug, users = _scene(cluster, f"ax{scheme[0]}", "en")
    base = cluster.nodes[0].http_url
    found = {}
    for width, height in ((1280, 800), (390, 844)):
        context = browser.new_context(
            base_url=base, bypass_csp=True, color_scheme=scheme, viewport={"width": width, "height": height}
        )
        context.add_cookies([{"name": "sessionid", "value": users[0][1], "url": base}])
        page = context.new_page()
        open_room(page, slug)
        open_members(page)
        expect(page.locator("#members li.member")).to_have_count(3)
        found[f"panel-{width}"] = axe_violations(page)
        page.keyboard.press("Escape")
        open_settings(page)
        expect(page.locator("#room-settings li.settings-member")).to_have_count(3)
        found[f"dialog-{width}"] = axe_violations(page)
        context.close()
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_screenshots_of_the_member_panel_and_the_settings_dialog(browser, cluster, lang):
    slug, users = _scene(cluster, f"shot{lang}", lang)
    for scheme in ("light", "dark"):
        for width, height in ((1280, 800), (390, 844)):
            page = page_for(browser, cluster, 0, users[0][1], locale="ko-KR" if lang == "ko" else "en-US")
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size({"width": width, "height": height})
            open_room(page, slug)
            shown = {"en": "Grace Hopper", "ko": "이철수"}[lang]
            expect(page.locator("#messages li.message .author", has_text=shown)).to_have_count(2)
            screenshot(page, f"members-room-{width}-{scheme}-{lang}")  # the header's buttons, closed
            open_members(page)
            expect(page.locator("#members li.member")).to_have_count(3)
            screenshot(page, f"members-{width}-{scheme}-{lang}")
            page.keyboard.press("Escape")
            open_settings(page)
            expect(page.locator("#room-settings li.settings-member")).to_have_count(3)
            screenshot(page, f"settings-{width}-{scheme}-{lang}")
            assert page.errors == []
            page.context.close()


def test_the_users_cache_sends_one_fetch_at_a_time_and_batches_authors(browser, cluster):
    [room] = cluster.make_rooms(["Many authors"])
    authors = cluster.make_sessions(6, "many")
    for i, (_, key) in enumerate(authors):
        post_as(cluster, key, room, f"line {i}", f"many-{i}")
    page = page_for(browser, cluster, 1, authors[0][1])
    # Counts the users.fetch frames the page's client sends (whatever the SockJS transport).
    page.add_init_script(
        """Object.defineProperty(window, "ChatClient", {
          configurable: true,
          set(cls) {
            const send = cls.prototype.send;
            window.__usersFetches = [];
            cls.prototype.send = function (frame) {
              const sent = send.call(this, frame);
              if (sent && frame && frame.type === "users.fetch") window.__usersFetches.push(frame.users);
              return sent;
            };
            Object.defineProperty(window, "ChatClient", { value: cls, writable: true, configurable: true });
          },
        })"""
    )
    open_room(page, room)
    expect(page.locator("#messages li.message")).to_have_count(6)
    wait_until_sync(lambda: page.evaluate("window.__usersFetches.length") >= 1, "a users.fetch")
    expect(page.locator("#messages li.message .author", has_text="many5")).to_have_count(1)
    fetches = page.evaluate("window.__usersFetches")
    assert len(fetches) == 1 and sorted(fetches[0]) == sorted(name for name, _ in authors), fetches
    assert page.errors == []
    page.context.close()


def test_an_open_member_list_shows_away_and_offline_change_with_no_event_of_the_room(browser, cluster):
    """Away (connected, reading another room) and offline change with no `presence` frame of the
    room: the open list asks again every CHAT_MEMBERS_REFRESH seconds (3 s in these clusters)."""
    [(owner_name, owner_key), (bob, bob_key)] = cluster.make_sessions(2, "awaylist")
    slug = private_room(cluster, owner_name, "Away and back", {bob: "member"})
    [elsewhere] = cluster.make_rooms(["Elsewhere"])
    owner = page_for(browser, cluster, 0, owner_key)
    open_room(owner, slug)
    open_members(owner)
    expect(member_row(owner, bob)).to_have_attribute("data-presence", "offline")
    # Connected on the other node, subscribed to another room only (the web UI follows its recent
    # rooms too, which would make bob online here: a plain client shows "away").
    node = cluster.nodes[1]
    with websockets_sync.connect(
        node.ws_url,
        additional_headers={"Cookie": f"sessionid={bob_key}", "Origin": node.http_url},
    ) as socket:
        socket.send(json.dumps({"type": "subscribe", "room": elsewhere}))
        expect(member_row(owner, bob)).to_have_attribute("data-presence", "away")
        expect(owner.locator("#members .members-group.away h3")).to_contain_text("Away")
    expect(member_row(owner, bob)).to_have_attribute("data-presence", "offline", timeout=40_000)
    assert owner.errors == []
    owner.context.close()
