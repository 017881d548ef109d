"""Subscribing to rooms: catch-up on (re)subscribe, unsubscribe, and losing access to a room."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import connection_reads, room_info, selectors
from chat.domain.errors import NotSubscribed, TooManySubscriptions, UnknownRoom
from chat.models import Room
from chat.protocol import fields, framecache
from chat.protocol.handlers.history import frame_dicts, stored_frames
from chat.realtime import events, presence

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


async def subscribe(session: ChatSession, frame: dict[str, Any]) -> None:
    """`subscribe {room, since?}` -> `subscribed`, then the history page or the missed messages."""
    slug = fields.room_slug(frame)
    since = fields.optional_int(frame, "since", minimum=0)
    checked_at = time.monotonic()
    room, role = await database_sync_to_async(selectors.room_get_readable_with_role)(
        slug=slug, user=session.user
    )
    if session.closed:
        return  # the connection went away while the room was read: its shutdown is done or under way
    subscription = session.subscriptions.get(room.pk)
    created = subscription is None
    if created:
        if len(session.subscriptions) >= settings.CHAT_MAX_SUBSCRIPTIONS:
            raise TooManySubscriptions()
        subscription = await session.add_subscription(room.pk, room.slug)
    subscription.access_checked_at = checked_at
    try:
        texts, position = await database_sync_to_async(catch_up)(room, since, session.user, role=role)
    except Exception:
        if created:  # a new subscription that never started: undo it
            await session.drop_subscription(room.pk)
        raise
    subscription.cursor.position = position
    for text in texts:
        await session.send_text(text)
    if session.closed or session.subscriptions.get(room.pk) is not subscription:
        # Closed (or unsubscribed) while this subscribe awaited: shutdown found no presence entry to
        # remove, so joining now would leave one behind that the heartbeat keeps alive for ever.
        return
    if subscription.presence_entry is None:
        subscription.presence_entry = presence.Presence(
            room_id=room.pk,
            user_id=session.user.pk,
            username=session.user.get_username(),
            connection_id=session.channel_name,
        )
        online = await presence.join(subscription.presence_entry)
        await session.send({"type": "presence", "room": room.slug, "users": online, "joined": [], "left": []})


def catch_up(room: Room, since: int | None, viewer=None, *, role: str | None = None) -> tuple[list[str], int]:
    """Frames that bring a (re)subscribing client up to date, and the seq they reach.

    The room's last seq is read first: every change up to it is committed, and the frames read
    after it show messages in their current state, so the client has seen everything up to it; a
    change committed meanwhile also comes live, and the client applies it again by message id.
    The frames after `subscribed` are the same for every subscriber at that seq: this node reads
    and encodes them once (chat/protocol/framecache.py).
    """
    info = (
        events.room_frame(room)
        if viewer is None
        else room_info.room_object_with_role(room=room, user=viewer, role=role)
    )
    last_seq = connection_reads.room_last_seq(room.pk)
    if last_seq is None:  # deleted since it was looked up
        raise UnknownRoom(f"No room {room.slug!r}.")
    if since is None:

        def history_page() -> list[str]:
            messages, has_more = selectors.messages_before(
                room=room, before_seq=None, limit=settings.CHAT_HISTORY_PAGE
            )
            history = {
                "type": "history",
                "room": room.slug,
                "messages": frame_dicts(messages, room.slug),
                "has_more": has_more,
            }
            return [events.encode(history)]

        subscribed = {"type": "subscribed", "room": room.slug, "last_seq": last_seq, "info": info}
        page = framecache.frames((room.pk, room.slug, None, last_seq), history_page)
        return [events.encode(subscribed), *page], last_seq

    if since > last_seq or last_seq - since > settings.CHAT_CATCHUP_LIMIT:
        # Too far behind (or ahead of the server): the client pages with history.fetch.
        subscribed = {
            "type": "subscribed",
            "room": room.slug,
            "last_seq": last_seq,
            "recovered": False,
            "info": info,
        }
        return [events.encode(subscribed)], last_seq
    subscribed = {
        "type": "subscribed",
        "room": room.slug,
        "last_seq": last_seq,
        "recovered": True,
        "info": info,
    }
    missed = framecache.frames(
        (room.pk, room.slug, since, last_seq), lambda: stored_frames(room.pk, room.slug, since, last_seq)
    )
    return [events.encode(subscribed), *missed], last_seq


async def unsubscribe(session: ChatSession, frame: dict[str, Any]) -> None:
    """`unsubscribe {room}` -> `unsubscribed`."""
    slug = fields.room_slug(frame)
    room_id = session.room_ids_by_slug.get(slug)
    if room_id is None:
        raise NotSubscribed()
    await session.drop_subscription(room_id)
    await session.send({"type": "unsubscribed", "room": slug})


async def room_changed(session: ChatSession, event: dict[str, Any]) -> None:
    """A room was created or changed: tell those who may see it (with their role, and a DM's title
    for them), revoke it from those who no longer may."""
    visible = not event["private"] or session.user.pk in event["member_ids"]
    if visible:
        role = event.get("roles", {}).get(str(session.user.pk))
        dm_members = event.get("dm_members")
        if role is None and dm_members is None:
            await session.send_text(event["text"])  # the shared text: role null
            return
        frame = json.loads(event["text"])
        frame["room"]["role"] = role
        if dm_members is not None:
            frame["room"]["members"] = dm_members
            frame["room"]["title"] = room_info.dm_title(dm_members, session.user.get_username())
        await session.send(frame)
    elif event["was_public"]:
        await revoke(session, event["room_id"], slug=json.loads(event["text"])["room"]["slug"])


async def access_revoked(session: ChatSession, event: dict[str, Any]) -> None:
    """This user was removed from a private room (a service's event), or the repair loop found
    that a subscription's user may no longer read its room (then `as_of` is when the loop's read
    started, and a subscription whose access was checked since then is left alone)."""
    as_of = event.get("as_of")
    if as_of is not None:
        subscription = session.subscriptions.get(event["room_id"])
        if subscription is None or subscription.access_checked_at >= as_of:
            return
    await revoke(session, event["room_id"], slug=event["slug"])


async def revoke(session: ChatSession, room_id: int, *, slug: str) -> None:
    """End the subscription to a room this user may no longer read, and tell the client."""
    subscription = await session.drop_subscription(room_id)
    if subscription is not None:
        await session.send({"type": "unsubscribed", "room": subscription.slug, "reason": "forbidden"})
    await session.send({"type": "room.removed", "room": slug})


FRAMES = {"subscribe": subscribe, "unsubscribe": unsubscribe}
EVENTS = {"chat.room_changed": room_changed, "chat.access_revoked": access_revoked}
