"""The frames that bring a subscriber up to date are read once per node per room and seq range
(chat/protocol/framecache.py): later subscribers get the same frames, never a stale page after a
change, and never frames of a room they may not read."""

import pytest
from channels.db import database_sync_to_async

from chat.domain import message_changes, services
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
    private = await db(services.room_create)(creator=alice, title="Secret", is_private=True)
    await db(services.message_create)(room=private, author=alice, body="hush", client_msg_id="s0")
    await subscribe(await socket_for(alice), private.slug)
    assert len(framecache._entries) == 1
    frames = await subscribe(await socket_for(bob), private.slug)
    assert [f["type"] for f in frames] == ["error"]
    assert "hush" not in str(frames)


async def test_a_removed_member_gets_no_cached_page(alice, bob, socket_for):
    private = await db(services.room_create)(creator=alice, title="Team", is_private=True)
    await db(services.room_member_add)(room=private, user=bob)
    await db(services.message_create)(room=private, author=alice, body="plans", client_msg_id="t0")
    await subscribe(await socket_for(bob), private.slug)
    await db(services.room_member_remove)(room=private, user=bob)
    frames = await subscribe(await socket_for(bob), private.slug)
    assert [f["type"] for f in frames] == ["error"]
    assert "plans" not in str(frames)
