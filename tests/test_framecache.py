"""The frames that bring a subscriber up to date are read once per node per room and seq range
(chat/protocol/framecache.py): later subscribers get the same frames, never a stale page after a
change, and never frames of a room they may not read."""

import pytest
from channels.db import database_sync_to_async

from chat.domain import dms, message_changes, rooms, services
from chat.protocol import framecache

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

db = database_sync_to_async


async def subscribe(sock, slug: str, **extra) -> list[dict]:
    """Subscribe; the frames up to the `presence` frame that ends the subscribe."""
    await sock.send({"type": "subscribe", "room": slug, **extra})
    frames = [await sock.recv()]
    while frames[-1]["type"] not in ("presence", "error"):
        frames.append(await sock.recv())
    return frames


async def test_two_subscribers_at_the_same_seq_get_the_same_page_read_once(alice, bob, room, socket_for):
    for i in range(3):
        await db(services.message_create)(room=room, author=alice, body=f"m{i}", client_msg_id=f"c{i}")
    first = await subscribe(await socket_for(alice), room.slug)
    assert len(framecache._entries) == 1
    second = await subscribe(await socket_for(bob), room.slug)
    assert len(framecache._entries) == 1  # served from the cache
    history = [f for f in second if f["type"] == "history"]
    assert history == [f for f in first if f["type"] == "history"]
    assert [m["body"] for m in history[0]["messages"]] == ["m0", "m1", "m2"]


async def test_a_new_message_or_an_edit_is_in_the_next_subscriber_s_page(alice, bob, room, socket_for):
    message, _ = await db(services.message_create)(room=room, author=alice, body="before", client_msg_id="c0")
    await subscribe(await socket_for(alice), room.slug)
    await db(message_changes.message_edit)(
        room_slug=room.slug, message_id=message.pk, editor=alice, body="after"
    )
    await db(services.message_create)(room=room, author=alice, body="new", client_msg_id="c1")
    frames = await subscribe(await socket_for(bob), room.slug)
    [history] = [f for f in frames if f["type"] == "history"]
    assert [m["body"] for m in history["messages"]] == ["after", "new"]
    assert frames[0]["last_seq"] == 3


async def test_catch_up_with_since_is_shared_and_exact(alice, bob, room, socket_for):
    for i in range(4):
        await db(services.message_create)(room=room, author=alice, body=f"m{i}", client_msg_id=f"c{i}")
    one = await subscribe(await socket_for(alice), room.slug, since=1)
    two = await subscribe(await socket_for(bob), room.slug, since=1)
    for frames in (one, two):
        assert frames[0]["recovered"] is True
        assert [(f["seq"], f["body"]) for f in frames if f["type"] == "message"] == [
            (2, "m1"), (3, "m2"), (4, "m3")
        ]  # fmt: skip
    other = await subscribe(await socket_for(bob), room.slug, since=3)
    assert [f["seq"] for f in other if f["type"] == "message"] == [4]


async def test_a_cached_page_of_a_private_room_is_not_served_to_an_outsider(alice, bob, socket_for):
    private = await db(rooms.room_create)(creator=alice, title="Secret", is_private=True)
    await db(services.message_create)(room=private, author=alice, body="hush", client_msg_id="s0")
    await subscribe(await socket_for(alice), private.slug)
    assert len(framecache._entries) == 1
    frames = await subscribe(await socket_for(bob), private.slug)
    assert [f["type"] for f in frames] == ["error"]
    assert "hush" not in str(frames)


async def test_a_removed_member_gets_no_cached_page(alice, bob, socket_for):
    private = await db(rooms.room_create)(creator=alice, title="Team", is_private=True)
    await db(rooms.room_member_add)(room_slug=private.slug, actor=alice, username=bob.username)
    await db(services.message_create)(room=private, author=alice, body="plans", client_msg_id="t0")
    await subscribe(await socket_for(bob), private.slug)
    await db(rooms.room_member_remove)(room_slug=private.slug, actor=alice, username=bob.username)
    frames = await subscribe(await socket_for(bob), private.slug)
    assert [f["type"] for f in frames] == ["error"]
    assert "plans" not in str(frames)


async def test_a_shared_page_carries_each_subscriber_s_own_role(alice, bob, make_user, socket_for):
    """The room object in `subscribed` is the viewer's (role, a DM's title); only the frames after it
    are shared."""
    team = await db(rooms.room_create)(creator=alice, title="Team", is_private=True)
    await db(rooms.room_member_add)(room_slug=team.slug, actor=alice, username=bob.username)
    await db(rooms.room_role_set)(room_slug=team.slug, actor=alice, username=bob.username, role="moderator")
    await db(services.message_create)(room=team, author=alice, body="hi", client_msg_id="r0")
    carol = await db(make_user)("carol")
    await db(rooms.room_member_add)(room_slug=team.slug, actor=alice, username=carol.username)
    one = await subscribe(await socket_for(alice), team.slug)
    two = await subscribe(await socket_for(bob), team.slug)
    three = await subscribe(await socket_for(carol), team.slug)
    assert len(framecache._entries) == 1
    assert [f[0]["info"]["role"] for f in (one, two, three)] == ["owner", "moderator", "member"]
    assert one[1] == two[1] == three[1] and one[1]["type"] == "history"


async def test_a_dm_s_cached_frames_reach_its_members_only(alice, bob, make_user, socket_for):
    carol = await db(make_user)("carol")
    dm, _ = await db(dms.dm_open)(opener=alice, usernames=[bob.username])
    await db(services.message_create)(room=dm, author=alice, body="between us", client_msg_id="d0")
    mine = await subscribe(await socket_for(alice), dm.slug)
    theirs = await subscribe(await socket_for(bob), dm.slug)
    assert (mine[0]["info"]["title"], theirs[0]["info"]["title"]) == ("bob", "alice")
    assert "between us" in str(mine[1]) and mine[1] == theirs[1]
    for since in (None, 0):
        extra = {} if since is None else {"since": since}
        frames = await subscribe(await socket_for(carol), dm.slug, **extra)
        assert [f["type"] for f in frames] == ["error"]
        assert "between us" not in str(frames)


async def test_an_entry_too_large_is_not_kept_and_the_total_is_bounded(monkeypatch):
    monkeypatch.setattr(framecache, "MAX_ENTRY_CHARS", 10)
    monkeypatch.setattr(framecache, "MAX_CHARS", 25)
    assert framecache.frames((1, "a", None, 1), lambda: ["x" * 11]) == ["x" * 11]
    assert not framecache._entries
    for seq in range(1, 5):
        framecache.frames((1, "a", None, seq), lambda: ["y" * 10])
    assert [key[3] for key in framecache._entries] == [3, 4]  # 20 characters of at most 25
    assert framecache._chars == 20
