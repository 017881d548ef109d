"""Reading what is stored: history pages, the room list, and stored messages as frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import selectors
from chat.models import Message
from chat.protocol import fields
from chat.realtime import events

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


def frame_dicts(messages: list[Message], slug: str) -> list[dict[str, Any]]:
    """The `message` frames of stored messages."""
    return [events.message_frame(m, room_slug=slug) for m in messages]


def frames(messages: list[Message], slug: str) -> list[str]:
    """The `message` frames of stored messages, encoded."""
    return [events.encode(frame) for frame in frame_dicts(messages, slug)]


def stored_frames(user, room_id: int, slug: str, after_seq: int, upto_seq: int) -> list[str] | None:
    """The encoded frames of a room's stored messages in (after_seq, upto_seq], or None if the user
    may no longer read the room (checked first, in the same trip to the database thread: a fill
    is what a lost revoking event would otherwise leak)."""
    if not selectors.room_readable(room_id=room_id, user=user):
        return None
    return frames(selectors.messages_between(room=room_id, after_seq=after_seq, upto_seq=upto_seq), slug)


async def history_fetch(session: ChatSession, frame: dict[str, Any]) -> None:
    """`history.fetch {room, before_seq?, limit?}` -> `history`."""
    slug = fields.room_slug(frame)
    before_seq = fields.optional_int(frame, "before_seq", minimum=1)
    limit = fields.optional_int(frame, "limit", minimum=1, maximum=settings.CHAT_HISTORY_MAX_PAGE)
    page, has_more = await database_sync_to_async(_history)(
        session.user, slug, before_seq, limit or settings.CHAT_HISTORY_PAGE
    )
    await session.send({"type": "history", "room": slug, "messages": page, "has_more": has_more})


def _history(user, slug: str, before_seq: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    room = selectors.room_get_readable(slug=slug, user=user)
    messages, has_more = selectors.messages_before(room=room, before_seq=before_seq, limit=limit)
    return frame_dicts(messages, slug), has_more


async def rooms_list(session: ChatSession, frame: dict[str, Any]) -> None:
    """`rooms.list` -> `rooms` (the rooms this user may see)."""
    rooms = await database_sync_to_async(
        lambda: [events.room_frame(r) for r in selectors.rooms_visible_to(user=session.user)[:1000]]
    )()
    await session.send({"type": "rooms", "rooms": rooms})


FRAMES = {"history.fetch": history_fetch, "rooms.list": rooms_list}
EVENTS: dict = {}
