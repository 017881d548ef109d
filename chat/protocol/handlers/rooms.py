"""Running a room: members, roles, settings, archive, and the member list (docs/protocol.md,
"Rooms and roles"). The rules are in chat/domain/rooms.py; the effects reach everyone concerned as
the room's system line (a `message` of kind "system"), `room.updated` or `room.removed`; the sender
also gets `done` with the system line's seq (null when nothing changed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from chat.domain import room_info, rooms, selectors
from chat.domain.errors import InvalidField, NotFound, UnknownRoom
from chat.protocol import fields
from chat.realtime import presence, slots

if TYPE_CHECKING:
    from chat.models import Message
    from chat.protocol.session import ChatSession


async def _done(session: ChatSession, frame: dict[str, Any], slug: str, line: Message | None) -> None:
    await session.send(
        {
            "type": "done",
            "op": frame["type"],
            "ref": fields.ref(frame),
            "room": slug,
            "seq": None if line is None else line.seq,
        }
    )


def _username(frame: dict[str, Any]) -> str:
    value = frame.get("user")
    if not isinstance(value, str) or not 0 < len(value) <= 150:
        raise InvalidField("user must be a username.")
    return value


async def member_add(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.member.add {room, user}`."""
    slug, username = fields.room_slug(frame), _username(frame)
    line = await database_sync_to_async(rooms.room_member_add)(
        room_slug=slug, actor=session.user, username=username
    )
    await _done(session, frame, slug, line)


async def member_remove(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.member.remove {room, user}`."""
    slug, username = fields.room_slug(frame), _username(frame)
    line = await database_sync_to_async(rooms.room_member_remove)(
        room_slug=slug, actor=session.user, username=username
    )
    await _done(session, frame, slug, line)


async def leave(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.leave {room}`."""
    slug = fields.room_slug(frame)
    line = await database_sync_to_async(rooms.room_leave)(room_slug=slug, actor=session.user)
    await _done(session, frame, slug, line)


async def role_set(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.role.set {room, user, role}`."""
    slug, username = fields.room_slug(frame), _username(frame)
    role = frame.get("role")
    if role not in rooms.ROLES:
        raise InvalidField(f"role must be one of {', '.join(rooms.ROLES)}.")
    line = await database_sync_to_async(rooms.room_role_set)(
        room_slug=slug, actor=session.user, username=username, role=role
    )
    await _done(session, frame, slug, line)


async def update(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.update {room, title?, description?, is_private?}`."""
    slug = fields.room_slug(frame)
    changes: dict[str, object] = {}
    for name in ("title", "description"):
        if name in frame:
            value = frame[name]
            if not isinstance(value, str):
                raise InvalidField(f"{name} must be a string.")
            changes[name] = value.strip()
    if "title" in changes and not changes["title"]:
        raise InvalidField("title must not be blank.")
    if "is_private" in frame:
        if not isinstance(frame["is_private"], bool):
            raise InvalidField("is_private must be true or false.")
        changes["is_private"] = frame["is_private"]
    if not changes:
        raise InvalidField("room.update needs title, description or is_private.")
    line = await database_sync_to_async(rooms.room_update)(room_slug=slug, actor=session.user, **changes)
    await _done(session, frame, slug, line)


async def archive(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.archive {room, archived}`."""
    slug = fields.room_slug(frame)
    archived = frame.get("archived")
    if not isinstance(archived, bool):
        raise InvalidField("archived must be true or false.")
    line = await database_sync_to_async(rooms.room_set_archived)(
        room_slug=slug, actor=session.user, archived=archived
    )
    await _done(session, frame, slug, line)


def _members(user, slug: str):
    try:
        room = selectors.room_get_readable(slug=slug, user=user)
    except UnknownRoom:
        raise NotFound(f"No room {slug!r}.") from None
    return room, room_info.room_members(room=room)


async def members(session: ChatSession, frame: dict[str, Any]) -> None:
    """`room.members {room}` -> `room.members {room, members: [{username, display_name, role,
    presence}]}`; presence: "online" (subscribed to this room now), "away" (connected, elsewhere),
    "offline"."""
    slug = fields.room_slug(frame)
    room, rows = await database_sync_to_async(_members)(session.user, slug)
    here = await presence.room_online(room.pk)
    connected = await slots.users_connected([user_id for user_id, _, _ in rows])
    listed = [
        {
            "username": username,
            "display_name": username,
            "role": role,
            "presence": "online" if username in here else "away" if user_id in connected else "offline",
        }
        for user_id, username, role in rows
    ]
    await session.send({"type": "room.members", "room": room.slug, "members": listed})


FRAMES = {
    "room.member.add": member_add,
    "room.member.remove": member_remove,
    "room.leave": leave,
    "room.role.set": role_set,
    "room.update": update,
    "room.archive": archive,
    "room.members": members,
}
EVENTS: dict = {}
