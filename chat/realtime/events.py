"""Wire frames and channel-layer events: how the domain tells every node what happened.

Frames are encoded to JSON text once, here, and carried inside the layer event as
`text`; every consumer on every node forwards that text unchanged.
"""

import asyncio
import json
import logging
import os
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

from chat.models import Message, MessageChange, Room

logger = logging.getLogger(__name__)


def encode(frame: dict[str, Any]) -> str:
    """Encode one frame as compact JSON text."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def message_frame(
    message: Message,
    *,
    room_slug: str,
    reactions: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `message` frame for a stored message, in its current state (deleted messages keep their
    seq, lose their body). Optional fields appear only when set, to keep the hot path's frames small.

    `message.author` must already be loaded (select_related or set by the writer).
    """
    author_name = message.author.get_username() if message.author_id else None
    frame: dict[str, Any] = {
        "type": "message",
        "room": room_slug,
        "seq": message.seq,
        "id": message.pk,
        "author": author_name,
        "body": "" if message.is_deleted else message.body,
        "html": "" if message.is_deleted else message.body_html,
        "created_at": message.created_at.isoformat(),
        "client_msg_id": message.client_msg_id,
    }
    if message.is_deleted:
        frame["deleted"] = True
    if message.edited_at is not None and not message.is_deleted:
        frame["edited_at"] = message.edited_at.isoformat()
    if message.reply_to_id is not None:
        frame["reply_to"] = message.reply_to_id
    if message.reply_count:
        frame["reply_count"] = message.reply_count
        frame["last_reply_at"] = message.last_reply_at.isoformat() if message.last_reply_at else None
    if reactions:
        frame["reactions"] = reactions
    if attachments and not message.is_deleted:
        frame["attachments"] = attachments
    if message.kind != "message":  # a system line: the client renders `system`, localized
        frame["kind"] = message.kind
        frame["system"] = message.system
    return frame


def change_frame(
    change: MessageChange,
    message: Message,
    *,
    room_slug: str,
    reactions: list[dict[str, Any]] | None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `message.changed` frame: the change's own seq, its kind, and the message as it is now."""
    state = message_frame(message, room_slug=room_slug, reactions=reactions, attachments=attachments)
    del state["type"], state["room"]
    return {
        "type": "message.changed",
        "room": room_slug,
        "seq": change.seq,
        "change": change.kind,
        "message": state,
    }


def room_frame(room: Room) -> dict[str, Any]:
    """The description of a room that is the same for every viewer (chat/domain/room_info.py adds
    the viewer's role and a DM's members and title)."""
    return {
        "slug": room.slug,
        "kind": room.kind,
        "title": room.title,
        "description": room.description,
        "private": room.is_private,
        "archived": room.is_archived,
        "last_seq": room.last_seq,
        "created_at": room.created_at.isoformat(),
    }


def publish(group: str, event: dict[str, Any]) -> None:
    """Send an event to a group from synchronous code (services run after commit).

    On a server's database thread the publish is handed to the server's event loop without
    waiting for it, so the thread is free for the next write; publishes keep their order (tasks
    start in FIFO order and the layer sends them through one locked connection). Elsewhere
    (management commands, tests without a loop) it runs to completion here.

    Live delivery is best effort: a failed publish is logged, and subscribers still get the
    message from the database through the per-node repair loop (chat/delivery.py).
    """
    loop = _server_loop()
    if loop is not None:
        asyncio.run_coroutine_threadsafe(_publish(group, event), loop)
    else:
        async_to_sync(_publish)(group, event)


async def _publish(group: str, event: dict[str, Any]) -> None:
    try:
        await get_channel_layer().group_send(group, event)
    except Exception as exc:  # Redis down or unreachable: never fail the committed write
        logger.warning("publish to %s failed (%r); repair delivers from the database", group, exc)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    # The loop that called this thread through sync_to_async, as asgiref's own AsyncToSync finds it.
    threadlocal = SyncToAsync.threadlocal
    if getattr(threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None
