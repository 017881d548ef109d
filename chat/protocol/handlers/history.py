"""Reading what is stored: history pages, the room list, and stored messages as frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import attachments, message_changes, room_info, selectors, unread
from chat.domain.errors import RateLimited
from chat.models import Message, MessageChange
from chat.protocol import fields, rendering
from chat.realtime import events, throttle

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


def frame_dicts(messages: list[Message], slug: str) -> list[dict[str, Any]]:
    """The `message` frames of stored messages, in their current state (reactions included)."""
    live = [m.pk for m in messages if not m.is_deleted]
    reactions = selectors.message_reactions(message_ids=live)
    files = attachments.message_attachments(message_ids=live)
    return [
        events.message_frame(m, room_slug=slug, reactions=reactions.get(m.pk), attachments=files.get(m.pk))
        for m in messages
    ]


def stored_frames(room_id: int, slug: str, after_seq: int, upto_seq: int) -> list[str]:
    """The encoded frames of a room's changes in (after_seq, upto_seq]: a `message` frame for each
    message created there, a `message.changed` frame for each other change, in seq order."""
    stream = selectors.room_changes_between(room=room_id, after_seq=after_seq, upto_seq=upto_seq)
    live = {m.pk for _, _, m in stream if not m.is_deleted}
    reactions = selectors.message_reactions(message_ids=live)
    files = attachments.message_attachments(message_ids=live)
    texts = []
    for seq, kind, message in stream:
        if kind == selectors.NEW:
            frame = events.message_frame(
                message,
                room_slug=slug,
                reactions=reactions.get(message.pk),
                attachments=files.get(message.pk),
            )
        else:
            change = MessageChange(room_id=message.room_id, seq=seq, kind=kind, message=message)
            frame = events.change_frame(
                change,
                message,
                room_slug=slug,
                reactions=reactions.get(message.pk),
                attachments=files.get(message.pk),
            )
        texts.append(events.encode(frame))
    return texts


def readable_stored_frames(user, room_id: int, slug: str, after_seq: int, upto_seq: int) -> list[str] | None:
    """stored_frames(), or None if the user may no longer read the room (checked first, in the same
    trip to the database thread: a fill is what a lost revoking event would otherwise leak)."""
    if not selectors.room_readable(room_id=room_id, user=user):
        return None
    return stored_frames(room_id, slug, after_seq, upto_seq)


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
    rooms = await database_sync_to_async(_rooms)(session.user)
    await session.send({"type": "rooms", "rooms": rooms})


def _rooms(user) -> list[dict[str, Any]]:
    """The room objects of the rooms this user may see, with where the user stands in each
    (read_seq, unread, mentions: one query for all of them)."""
    rooms = list(selectors.rooms_visible_to(user=user)[:1000])
    states = unread.read_states_of(user=user, room_ids=[room.pk for room in rooms])
    frames = []
    for room, frame in zip(rooms, room_info.room_objects_for(rooms=rooms, user=user), strict=True):
        state = states.get(room.pk)
        if state is not None:  # a room deleted meanwhile has none
            frame.update(state.fields(), last_seq=max(room.last_seq, state.last_seq))
        frames.append(frame)
    return frames


async def thread_fetch(session: ChatSession, frame: dict[str, Any]) -> None:
    """`thread.fetch {room, id}` -> `thread` (the parent message and its replies, oldest first)."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    answer = await database_sync_to_async(_thread)(session.user, slug, message_id)
    await session.send(answer)


def _thread(user, slug: str, message_id: int) -> dict[str, Any]:
    room = selectors.room_get_readable(slug=slug, user=user)
    parent, replies, has_more = selectors.message_thread(
        room=room, message_id=message_id, limit=settings.CHAT_THREAD_PAGE
    )
    [parent_frame, *reply_frames] = frame_dicts([parent, *replies], slug)
    return {
        "type": "thread",
        "room": slug,
        "parent": parent_frame,
        "replies": reply_frames,
        "has_more": has_more,
    }


async def edits_fetch(session: ChatSession, frame: dict[str, Any]) -> None:
    """`edits.fetch {room, id}` -> `edits` (the message's earlier versions, oldest first): for its
    author, the room's owners and moderators, and admins (message_changes.message_edit_history)."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    wait = await throttle.rate_hit(
        scope="edits", value=str(session.user.pk), limit=settings.CHAT_EDITS_RATE_LIMIT, window=60
    )
    if wait is not None:
        raise RateLimited(f"Too many edit histories; try again in {wait} s.", retry_after=wait)
    answer = await database_sync_to_async(_edits)(session.user, slug, message_id)
    answer["ref"] = fields.ref(frame)
    for edit in answer["edits"]:
        edit["html"] = await rendering.body_html(edit["body"])  # off the database thread
    await session.send(answer)


def _edits(user, slug: str, message_id: int) -> dict[str, Any]:
    history, has_more = message_changes.message_edit_history(
        room_slug=slug, message_id=message_id, user=user, limit=settings.CHAT_EDITS_PAGE
    )
    return {
        "type": "edits",
        "room": slug,
        "id": message_id,
        "has_more": has_more,
        "edits": [
            {
                "body": edit.body,
                "editor": edit.editor.get_username() if edit.editor else None,
                "edited_at": edit.edited_at.isoformat(),
            }
            for edit in history
        ],
    }


FRAMES = {
    "edits.fetch": edits_fetch,
    "history.fetch": history_fetch,
    "rooms.list": rooms_list,
    "thread.fetch": thread_fetch,
}
EVENTS: dict = {}
