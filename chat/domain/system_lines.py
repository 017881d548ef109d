"""System lines: "alice added bob" as a message of kind "system" in the room's seq stream.

A line takes the room's next seq inside the transaction of the change it reports, so it is caught
up, paged and repaired like any message, and announced after commit on the room's group like one.
It has no author (it counts toward nobody's rate limit and nobody may edit, delete or react to it),
its event is in `Message.system` and its body is an English fallback for clients that do not render
events; search never finds it (chat/domain/search.py).
"""

import time
import uuid
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.html import escape

from chat.models import Message, Room
from chat.realtime import events, groups

EVENTS = (
    "member.added",
    "member.removed",
    "member.left",
    "role.changed",
    "room.updated",
    "room.archived",
    "room.unarchived",
)


def _fallback(event: str, actor: str | None, target: str | None, extra: dict) -> str:
    who = actor or "an admin"
    match event:
        case "member.added":
            return f"{who} added {target}"
        case "member.removed":
            return f"{who} removed {target}"
        case "member.left":
            return f"{target or who} left"
        case "role.changed":
            return f"{who} made {target} {extra.get('role')}"
        case "room.updated":
            return f"{who} changed {', '.join(extra.get('fields', []))}"
        case "room.archived":
            return f"{who} archived the room"
        case _:
            return f"{who} unarchived the room"


def system_line_record(
    *, room: Room, event: str, actor: AbstractBaseUser | None, target: str | None = None, **extra: object
) -> Message:
    """Inside a transaction that has just taken the room's next seq (queries.room_take_next_seq):
    store the line under that seq and announce it after commit."""
    if event not in EVENTS:
        raise ValueError(f"Unknown system event {event!r}")
    actor_name = actor.get_username() if actor is not None else None
    payload: dict[str, object] = {"event": event, "actor": actor_name}
    if target is not None:
        payload["target"] = target
    payload.update(extra)
    body = _fallback(event, actor_name, target, extra)
    line = Message.objects.create(
        room=room,
        seq=room.last_seq,
        author=None,
        body=body,
        body_html=escape(body),
        client_msg_id=f"system:{uuid.uuid4().hex}",
        kind="system",
        system=payload,
    )
    transaction.on_commit(partial(_announce, line, room.slug), robust=True)
    return line


def _announce(line: Message, slug: str) -> None:
    frame = events.message_frame(line, room_slug=slug)
    events.publish(
        groups.room_group(line.room_id),
        {
            "type": "chat.message",
            "room_id": line.room_id,
            "seq": line.seq,
            "text": events.encode(frame),
            "committed_at": time.time(),
        },
    )
