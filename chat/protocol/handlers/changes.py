"""Changing stored messages: edit, delete, reactions. The change itself reaches every subscriber
(this client included) as a `message.changed` frame under its own seq; the sender also gets `done`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from chat.domain import message_changes
from chat.domain.validation import body_validate
from chat.protocol import fields, rendering

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


async def _done(session: ChatSession, frame: dict[str, Any], slug: str, message_id: int, change) -> None:
    await session.send(
        {
            "type": "done",
            "op": frame["type"],
            "ref": fields.ref(frame),
            "room": slug,
            "id": message_id,
            # None: nothing changed (the same body, a reaction already there or already gone).
            "seq": None if change is None else change.seq,
        }
    )


async def message_edit(session: ChatSession, frame: dict[str, Any]) -> None:
    """`message.edit {room, id, body}`."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    body = fields.string(frame, "body")
    body_validate(body=body)  # before rendering it
    change = await database_sync_to_async(message_changes.message_edit)(
        room_slug=slug,
        message_id=message_id,
        editor=session.user,
        body=body,
        body_html=await rendering.body_html(body),
    )
    await _done(session, frame, slug, message_id, change)


async def message_delete(session: ChatSession, frame: dict[str, Any]) -> None:
    """`message.delete {room, id}`."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    change = await database_sync_to_async(message_changes.message_remove)(
        room_slug=slug, message_id=message_id, user=session.user
    )
    await _done(session, frame, slug, message_id, change)


async def reaction_add(session: ChatSession, frame: dict[str, Any]) -> None:
    """`reaction.add {room, id, emoji}`."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    emoji = fields.string(frame, "emoji")
    change = await database_sync_to_async(message_changes.reaction_add)(
        room_slug=slug, message_id=message_id, user=session.user, emoji=emoji
    )
    await _done(session, frame, slug, message_id, change)


async def reaction_remove(session: ChatSession, frame: dict[str, Any]) -> None:
    """`reaction.remove {room, id, emoji}`."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    emoji = fields.string(frame, "emoji")
    change = await database_sync_to_async(message_changes.reaction_remove)(
        room_slug=slug, message_id=message_id, user=session.user, emoji=emoji
    )
    await _done(session, frame, slug, message_id, change)


FRAMES = {
    "message.edit": message_edit,
    "message.delete": message_delete,
    "reaction.add": reaction_add,
    "reaction.remove": reaction_remove,
}
EVENTS: dict = {}
