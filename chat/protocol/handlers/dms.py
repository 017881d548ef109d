"""Direct messages: `dm.open` (docs/protocol.md, "Direct messages"). From then on a DM is a room like
any other for subscribe, message.send, history.fetch and since; the rules are in chat/domain/dms.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from chat.domain import dms, room_info
from chat.protocol import fields

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


def _open(user, usernames: object) -> dict[str, Any]:
    room, _created = dms.dm_open(opener=user, usernames=usernames)
    return room_info.room_object_for(room=room, user=user)


async def dm_open(session: ChatSession, frame: dict[str, Any]) -> None:
    """`dm.open {users: [usernames]}` -> `dm.opened {room, info}` (the existing conversation of this
    set of people, or a new one)."""
    info = await database_sync_to_async(_open)(session.user, frame.get("users"))
    await session.send({"type": "dm.opened", "room": info["slug"], "info": info, "ref": fields.ref(frame)})


FRAMES = {"dm.open": dm_open}
EVENTS: dict = {}
