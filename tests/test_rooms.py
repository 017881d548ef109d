"""Room roles through /ws/ (the real ASGI stack, a real Redis layer): every cell of docs/rooms.md's
action x role table is a test here, and the table in the docs is this module's EXPECTED.

The room "club" (private) has owners alice and olga, moderators mo and mia, members mem and tim;
eve is no member. Each cell sends one frame as the column's user and checks the answer, and that a
refused frame changed nothing (the room's seq stream included).
"""

import re
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from chat.domain import message_changes, rooms, services
from chat.domain.errors import LastOwner
from chat.models import Attachment, Membership, Message, Room
from chat.realtime import throttle
from chat.realtime.redisclient import redis_client

pytestmark = [pytest.mark.django_db(transaction=True)]

db = database_sync_to_async
DOCS = Path(__file__).resolve().parent.parent / "docs" / "rooms.md"

ACTORS = {"owner": "alice", "moderator": "mo", "member": "mem", "non-member": "eve"}

# action -> (frame fields besides type and room, {column: "ok" or the error code}).
ACTIONS = {
    "add a member": ({"type": "room.member.add", "user": "newbie"}, "managers"),
    "remove a member": ({"type": "room.member.remove", "user": "tim"}, "managers"),
    "remove a moderator": ({"type": "room.member.remove", "user": "mia"}, "owners"),
    "remove an owner": ({"type": "room.member.remove", "user": "olga"}, "owners"),
    "name a moderator": ({"type": "room.role.set", "user": "tim", "role": "moderator"}, "owners"),
    "hand over ownership": ({"type": "room.role.set", "user": "tim", "role": "owner"}, "owners"),
    "demote a moderator": ({"type": "room.role.set", "user": "mia", "role": "member"}, "owners"),
    "change title or description": ({"type": "room.update", "title": "New title"}, "managers"),
    "change privacy": ({"type": "room.update", "is_private": False}, "managers"),
    "archive": ({"type": "room.archive", "archived": True}, "managers"),
    "delete another's message": ({"type": "message.delete"}, "deleters"),
    "see another's edit history": ({"type": "edits.fetch"}, "deleters"),
    "leave": ({"type": "room.leave"}, "members"),
    "list members": ({"type": "room.members"}, "members"),
    "read (subscribe)": ({"type": "subscribe"}, "readers"),
}
RULES = {
    "managers": {"owner": "ok", "moderator": "ok", "member": "forbidden", "non-member": "not_found"},
    "owners": {"owner": "ok", "moderator": "forbidden", "member": "forbidden", "non-member": "not_found"},
    "members": {"owner": "ok", "moderator": "ok", "member": "ok", "non-member": "not_found"},
    # message.delete and subscribe are older frames with their own codes (docs/protocol.md)
    "deleters": {"owner": "ok", "moderator": "ok", "member": "not_allowed", "non-member": "unknown_room"},
    "readers": {"owner": "ok", "moderator": "ok", "member": "ok", "non-member": "unknown_room"},
}
EXPECTED = {action: RULES[rule] for action, (_, rule) in ACTIONS.items()}
CELLS = [(action, column) for action in ACTIONS for column in ACTORS]


def _club(make_user) -> tuple[Room, Message]:
    users = {name: make_user(name) for name in ("alice", "olga", "mo", "mia", "mem", "tim", "eve", "newbie")}
    club = rooms.room_create(creator=users["alice"], title="Club", is_private=True)
    for name, role in (
        ("olga", "owner"),
        ("mo", "moderator"),
        ("mia", "moderator"),
        ("mem", "member"),
        ("tim", "member"),
    ):
        Membership.objects.create(room=club, user=users[name], role=role)
    message, _ = services.message_create(
        room=club, author=users["tim"], body="tim's first words", client_msg_id="t1"
    )
    message_changes.message_edit(
        room_slug=club.slug, message_id=message.pk, editor=users["tim"], body="tim's words"
    )
    return Room.objects.get(pk=club.pk), message


def _state(room: Room) -> tuple:
    room = Room.objects.get(pk=room.pk)
    roles = sorted(Membership.objects.filter(room=room).values_list("user__username", "role"))
    deleted = Message.objects.filter(room=room, deleted_at__isnull=False).count()
    return room.last_seq, room.title, room.is_private, room.is_archived, roles, deleted


@pytest.mark.parametrize(("action", "column"), CELLS, ids=[f"{a}-{c}" for a, c in CELLS])
async def test_each_action_is_allowed_exactly_to_the_roles_in_the_table(
    action, column, make_user, socket_for
):
    club, message = await db(_club)(make_user)
    actor = await db(lambda: get_user_model().objects.get(username=ACTORS[column]))()
    sock = await socket_for(actor)
    fields, _ = ACTIONS[action]
    frame = {**fields, "room": club.slug, "ref": "cell"}
    if frame["type"] in ("message.delete", "edits.fetch"):
        frame["id"] = message.pk
    before = await db(_state)(club)
    await sock.send(frame)
    expected = EXPECTED[action][column]
    while True:
        answer = await sock.recv()
        if answer["type"] in ("done", "error", "room.members", "subscribed", "edits"):
            break
    if expected == "ok":
        assert answer["type"] != "error", answer
        if answer["type"] == "edits":
            assert [(e["body"], e["editor"]) for e in answer["edits"]] == [("tim's first words", "tim")]
        if answer["type"] == "done":
            assert answer["ref"] == "cell"
            if frame["type"] != "message.delete":
                line = await db(Message.objects.get)(room=club, seq=answer["seq"])
                assert line.kind == "system" and line.author_id is None
                assert line.system["actor"] == ACTORS[column]
        if frame["type"].startswith("room.") and frame["type"] != "room.members":
            assert await db(_state)(club) != before
    else:
        assert answer["type"] == "error" and answer["code"] == expected, answer
        assert await db(_state)(club) == before  # nothing changed, no seq taken


def test_the_table_in_the_docs_is_the_table_tested():
    """docs/rooms.md's action x role table, row by row, is EXPECTED."""
    text = DOCS.read_text()
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in ACTIONS:
            rows[cells[0]] = dict(zip(ACTORS, [re.sub(r"[`*]", "", c) for c in cells[1:]], strict=True))
    assert rows == EXPECTED


# --- invariants and details beyond the table --------------------------------------------------


async def _answer(sock) -> dict:
    while True:
        frame = await sock.recv()
        if frame["type"] in ("done", "error"):
            return frame


async def test_the_last_owner_must_hand_over_before_leaving_or_stepping_down(make_user, socket_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, title="Solo", is_private=True)
    await db(Membership.objects.create)(room=room, user=bob)
    sock = await socket_for(alice)
    for frame in (
        {"type": "room.leave", "room": room.slug},
        {"type": "room.member.remove", "room": room.slug, "user": "alice"},
        {"type": "room.role.set", "room": room.slug, "user": "alice", "role": "member"},
    ):
        await sock.send(frame)
        assert (await _answer(sock))["code"] == "last_owner"
    await sock.send({"type": "room.role.set", "room": room.slug, "user": "bob", "role": "owner"})
    assert (await _answer(sock))["type"] == "done"
    await sock.send({"type": "room.leave", "room": room.slug})
    assert (await _answer(sock))["type"] == "done"
    roles = await db(
        lambda: list(Membership.objects.filter(room=room).values_list("user__username", "role"))
    )()
    assert roles == [("bob", "owner")]


def test_the_admin_path_keeps_the_owner_too(make_user):
    alice = make_user("alice")
    room = rooms.room_create(creator=alice, title="Kept", is_private=True)
    with pytest.raises(LastOwner):
        rooms.room_member_remove(room_slug=room.slug, actor=None, username="alice", as_admin=True)
    with pytest.raises(LastOwner):
        rooms.room_role_set(room_slug=room.slug, actor=None, username="alice", role="member", as_admin=True)
    assert Membership.objects.get(room=room, user=alice).role == "owner"
    assert Room.objects.get(pk=room.pk).last_seq == 0


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "room.member.add", "room": "club"}, "invalid_field"),  # no user
        ({"type": "room.member.add", "room": "club", "user": 7}, "invalid_field"),
        ({"type": "room.member.add", "user": "bob"}, "invalid_field"),  # no room
        ({"type": "room.member.add", "room": ["club"], "user": "bob"}, "invalid_field"),
        ({"type": "room.member.add", "room": "club", "user": "nobody"}, "not_found"),
        ({"type": "room.member.remove", "room": "club", "user": "nobody"}, "not_found"),
        ({"type": "room.member.remove", "room": "club", "user": ""}, "invalid_field"),
        ({"type": "room.role.set", "room": "club", "user": "bob", "role": "admin"}, "invalid_field"),
        ({"type": "room.role.set", "room": "club", "user": "bob"}, "invalid_field"),
        ({"type": "room.role.set", "room": "club", "user": "bob", "role": None}, "invalid_field"),
        ({"type": "room.update", "room": "club"}, "invalid_field"),  # nothing to change
        ({"type": "room.update", "room": "club", "title": "   "}, "invalid_field"),
        ({"type": "room.update", "room": "club", "title": "x" * 121}, "invalid_field"),
        ({"type": "room.update", "room": "club", "title": 5}, "invalid_field"),
        ({"type": "room.update", "room": "club", "is_private": "yes"}, "invalid_field"),
        ({"type": "room.update", "room": "club", "slug": "other"}, "invalid_field"),
        ({"type": "room.archive", "room": "club"}, "invalid_field"),
        ({"type": "room.archive", "room": "club", "archived": 1}, "invalid_field"),
        ({"type": "room.leave", "room": "no-such-room"}, "not_found"),
        ({"type": "room.members", "room": "no-such-room"}, "not_found"),
        ({"type": "dm.open"}, "invalid_field"),
        ({"type": "dm.open", "users": "bob"}, "invalid_field"),
        ({"type": "dm.open", "users": []}, "invalid_field"),
        ({"type": "dm.open", "users": [3]}, "invalid_field"),
        ({"type": "dm.open", "users": ["alice"]}, "invalid_field"),  # only oneself
        ({"type": "dm.open", "users": ["nobody"]}, "not_found"),
        ({"type": "dm.open", "users": [f"u{i}" for i in range(9)]}, "invalid_field"),  # 10 members
    ],
)
async def test_malformed_room_frames_get_documented_errors_and_change_nothing(
    frame, code, make_user, socket_for
):
    alice = await db(make_user)("alice")
    await db(make_user)("bob")
    await db(lambda: [make_user(f"u{i}") for i in range(9)])()
    room = await db(rooms.room_create)(creator=alice, title="Club", is_private=True)
    await db(Membership.objects.create)(
        room=room, user=await db(get_user_model().objects.get)(username="bob")
    )
    before = await db(_state)(room)
    sock = await socket_for(alice)
    await sock.send({**frame, "ref": "bad"})
    answer = await sock.recv_type("error")
    assert (answer["code"], answer["ref"]) == (code, "bad"), answer
    assert await db(_state)(room) == before
    assert await db(Room.objects.filter(kind="dm").count)() == 0


async def test_in_a_public_room_a_non_member_is_refused_with_forbidden_not_not_found(make_user, socket_for):
    alice, eve = await db(make_user)("alice"), await db(make_user)("eve")
    room = await db(rooms.room_create)(creator=alice, title="Open")
    sock = await socket_for(eve)
    await sock.send({"type": "room.update", "room": room.slug, "title": "Mine"})
    assert (await _answer(sock))["code"] == "forbidden"
    await sock.send({"type": "room.leave", "room": room.slug})
    assert (await _answer(sock))["code"] == "not_found"


async def test_system_lines_are_in_the_stream_and_cannot_be_changed_or_found(make_user, socket_for):
    alice = await db(make_user)("alice")
    await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, title="Lines", is_private=True)
    sock = await socket_for(alice)
    await sock.send({"type": "subscribe", "room": room.slug})
    await sock.recv_type("subscribed")
    await sock.send({"type": "room.member.add", "room": room.slug, "user": "bob"})
    got: dict[str, dict] = {}
    while len(got) < 2:  # the answer and the line, in either order
        frame = await sock.recv()
        if frame["type"] in ("done", "message"):
            got[frame["type"]] = frame
    line = got["message"]
    assert line["kind"] == "system" and line["author"] is None
    assert line["system"] == {"event": "member.added", "actor": "alice", "target": "bob"}
    assert line["body"] == "alice added bob"
    assert got["done"]["seq"] == line["seq"]
    for frame, code in (
        ({"type": "message.edit", "id": line["id"], "body": "x"}, "not_allowed"),
        ({"type": "message.delete", "id": line["id"]}, "not_allowed"),
        ({"type": "reaction.add", "id": line["id"], "emoji": "👍"}, "not_allowed"),
        (
            {"type": "message.send", "reply_to": line["id"], "body": "re", "client_msg_id": "r1"},
            "not_allowed",
        ),
    ):
        await sock.send({**frame, "room": room.slug})
        assert (await sock.recv_type("error"))["code"] == code
    await sock.send({"type": "search", "query": "added"})
    assert (await sock.recv_type("search.results"))["results"] == []
    await sock.send({"type": "history.fetch", "room": room.slug})
    [paged] = (await sock.recv_type("history"))["messages"]
    assert paged["system"]["event"] == "member.added"


async def test_room_members_lists_roles_and_presence(make_user, socket_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    await db(make_user)("carol")
    room = await db(rooms.room_create)(creator=alice, title="Who", is_private=True)
    await db(Membership.objects.create)(room=room, user=bob, role="moderator")
    carol = await db(get_user_model().objects.get)(username="carol")
    await db(Membership.objects.create)(room=room, user=carol)
    sock = await socket_for(alice)
    await sock.send({"type": "subscribe", "room": room.slug})
    await sock.recv_type("presence")
    await socket_for(bob)  # connected, not in the room
    await sock.send({"type": "room.members", "room": room.slug})
    answer = await sock.recv_type("room.members")
    assert answer["members"] == [
        {"username": "alice", "display_name": "alice", "role": "owner", "presence": "online"},
        {"username": "bob", "display_name": "bob", "role": "moderator", "presence": "away"},
        {"username": "carol", "display_name": "carol", "role": "member", "presence": "offline"},
    ]


async def test_rooms_list_carries_kind_and_the_viewers_role(make_user, socket_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, title="Mine")
    for user, role in ((alice, "owner"), (bob, None)):
        sock = await socket_for(user)
        await sock.send({"type": "rooms.list"})
        [listed] = [r for r in (await sock.recv_type("rooms"))["rooms"] if r["slug"] == room.slug]
        assert (listed["kind"], listed["role"]) == ("room", role)


async def test_a_role_change_reaches_the_target_as_room_updated_with_their_role(make_user, socket_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, title="Promo", is_private=True)
    await db(Membership.objects.create)(room=room, user=bob)
    bob_sock, alice_sock = await socket_for(bob), await socket_for(alice)
    await alice_sock.send({"type": "room.role.set", "room": room.slug, "user": "bob", "role": "moderator"})
    updated = await bob_sock.recv_type("room.updated")
    assert (updated["room"]["slug"], updated["room"]["role"]) == (room.slug, "moderator")
    assert (await alice_sock.recv_type("room.updated"))["room"]["role"] == "owner"


async def test_the_admin_lists_no_dm_message_and_offers_no_dm_in_its_filters(make_user, socket_for):
    from chat.domain import dms

    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    await db(make_user)("root", is_staff=True, is_superuser=True)
    dm, _ = await db(dms.dm_open)(opener=alice, usernames=["bob"])
    await db(services.message_create)(room=dm, author=bob, body="whisper-7731", client_msg_id="w1")
    public = await db(rooms.room_create)(creator=alice, title="Open")
    await db(services.message_create)(room=public, author=alice, body="shout-4410", client_msg_id="s1")

    def pages() -> list[str]:
        client = Client()
        client.force_login(type(alice).objects.get(username="root"))
        dm_message = Message.objects.get(room=dm, kind="message")
        Attachment.objects.create(
            uploader=bob, message=dm_message, file="attachments/w.txt", name="whisper-7731.txt",
            size=1, content_type="text/plain",
        )  # fmt: skip
        paths = [
            "/admin/chat/attachment/",
            "/admin/chat/attachment/?q=whisper",
            "/admin/chat/message/",
            "/admin/chat/message/?q=whisper",
            f"/admin/chat/message/?room__id__exact={dm.pk}",
            f"/admin/chat/message/{dm_message.pk}/change/",
            "/admin/chat/room/?q=whisper",
        ]
        return [client.get(path, follow=True).content.decode() for path in paths]

    files, files_searched, listing, searched, filtered, change_page, rooms_searched = await db(pages)()
    assert "shout-4410" in listing
    for page in (files, files_searched, listing, searched, filtered, change_page, rooms_searched):
        assert "whisper-7731" not in page
    assert dm.slug not in listing  # the room filter offers no DM


def _admin_post_members(client: Client, room: Room, roles: dict[str, str]):
    memberships = list(Membership.objects.filter(room=room).select_related("user").order_by("pk"))
    form = {
        "title": room.title, "slug": room.slug, "description": "", "is_private": "on",
        "creator": room.creator_id,
        "memberships-TOTAL_FORMS": str(len(memberships)), "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, membership in enumerate(memberships):
        form[f"memberships-{i}-id"] = membership.pk
        form[f"memberships-{i}-room"] = room.pk
        form[f"memberships-{i}-user"] = membership.user_id
        form[f"memberships-{i}-role"] = roles.get(membership.user.username, membership.role)
    return client.post(f"/admin/chat/room/{room.pk}/change/", form)


def test_the_admin_keeps_an_owner_and_hands_a_room_over_with_system_lines(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    root = make_user("root", is_staff=True, is_superuser=True)
    room = rooms.room_create(creator=alice, title="Handed", is_private=True)
    Membership.objects.create(room=room, user=bob)
    client = Client()
    client.force_login(root)
    refused = _admin_post_members(client, room, {"alice": "member"})
    assert refused.status_code == 200 and b"A room must keep an owner" in refused.content
    assert Membership.objects.get(room=room, user=alice).role == "owner"
    handed = _admin_post_members(client, room, {"alice": "member", "bob": "owner"})
    assert handed.status_code == 302, handed.content[:2000]
    roles = dict(Membership.objects.filter(room=room).values_list("user__username", "role"))
    assert roles == {"alice": "member", "bob": "owner"}
    lines = [m.system for m in Message.objects.filter(room=room, kind="system").order_by("seq")]
    assert lines == [
        {"event": "role.changed", "actor": "root", "target": "bob", "role": "owner"},
        {"event": "role.changed", "actor": "root", "target": "alice", "role": "member"},
    ]


def test_the_dm_page_shows_the_other_members_names_and_is_a_404_for_anyone_else(make_user):
    from chat.domain import dms

    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    dm, _ = dms.dm_open(opener=alice, usernames=["bob"])
    public = rooms.room_create(creator=alice, title="Open")
    client = Client()
    client.force_login(bob)
    page = client.get(f"/dm/{dm.slug}/")
    assert page.status_code == 200 and b'<h1 id="room-title" tabindex="-1">alice</h1>' in page.content
    assert client.get(f"/dm/{public.slug}/").status_code == 404  # not a DM
    client.force_login(eve)
    for path in (f"/dm/{dm.slug}/", f"/rooms/{dm.slug}/", "/dm/dm-no-such-conversation/"):
        assert client.get(path).status_code == 404
    assert dm.slug.encode() not in client.get("/").content


async def test_edit_histories_are_rate_limited_per_user_and_paged(make_user, socket_for, settings):
    settings.CHAT_EDITS_RATE_LIMIT = 2
    settings.CHAT_EDITS_PAGE = 2
    club, message = await db(_club)(make_user)
    for body in ("tim's second words", "tim's third words"):
        await db(message_changes.message_edit)(
            room_slug=club.slug, message_id=message.pk, editor=message.author, body=body
        )
    mo = await db(lambda: get_user_model().objects.get(username="mo"))()
    # Another test's "mo" may have had the same id within the minute: start from a fresh count.
    await redis_client().delete(throttle._key("edits", str(mo.pk), "rate"))
    sock = await socket_for(mo)
    answers = []
    for ref in ("e1", "e2", "e3"):
        await sock.send({"type": "edits.fetch", "room": club.slug, "id": message.pk, "ref": ref})
        while (answer := await sock.recv())["type"] not in ("edits", "error"):
            pass
        answers.append(answer)
    first, second, third = answers
    # The newest two earlier versions, and word that there are more.
    assert [e["body"] for e in first["edits"]] == ["tim's words", "tim's second words"] and first["has_more"]
    assert second["type"] == "edits"
    assert (third["type"], third["code"], third["ref"]) == ("error", "rate_limited", "e3") and third[
        "retry_after"
    ] > 0
