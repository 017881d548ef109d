"""Changing stored messages: edit, delete, reactions. The change itself reaches every subscriber
(this client included) as a `message.changed` frame under its own seq; the sender also gets `done`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.domain import batching, message_changes
from chat.domain.validation import body_validate
from chat.protocol import fields, rendering

Kind = message_changes.ChangeKind

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


async def _store(session: ChatSession, frame: dict[str, Any], request: message_changes.ChangeRequest) -> None:
    message_changes.change_validate(request)  # no database trip if refused
    change = await batching.store_change(request)
    await _done(session, frame, request.room_slug, request.message_id, change)


async def message_edit(session: ChatSession, frame: dict[str, Any]) -> None:
    """`message.edit {room, id, body}`."""
    slug = fields.room_slug(frame)
    message_id = fields.message_id(frame)
    body = fields.string(frame, "body")
    body_validate(body=body)  # before rendering it
    request = message_changes.ChangeRequest(
        Kind.EDIT, slug, message_id, session.user, body=body, body_html=await rendering.body_html(body)
    )
    await _store(session, frame, request)


async def message_delete(session: ChatSession, frame: dict[str, Any]) -> None:
    """`message.delete {room, id}`."""
    request = message_changes.ChangeRequest(
        Kind.DELETE, fields.room_slug(frame), fields.message_id(frame), session.user
    )
    await _store(session, frame, request)


async def reaction_add(session: ChatSession, frame: dict[str, Any]) -> None:
    """`reaction.add {room, id, emoji}`."""
    request = message_changes.ChangeRequest(
        Kind.REACTION_ADD,
        fields.room_slug(frame),
        fields.message_id(frame),
        session.user,
        emoji=fields.string(frame, "emoji"),
    )
    await _store(session, frame, request)


async def reaction_remove(session: ChatSession, frame: dict[str, Any]) -> None:
    """`reaction.remove {room, id, emoji}`."""
    request = message_changes.ChangeRequest(
        Kind.REACTION_REMOVE,
        fields.room_slug(frame),
        fields.message_id(frame),
        session.user,
        emoji=fields.string(frame, "emoji"),
    )
    await _store(session, frame, request)


FRAMES = {
    "message.edit": message_edit,
    "message.delete": message_delete,
    "reaction.add": reaction_add,
    "reaction.remove": reaction_remove,
}
EVENTS: dict = {}
