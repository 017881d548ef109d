"""Presence and typing: ephemeral hints, relayed live and never stored."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings

from chat.domain.errors import NotSubscribed
from chat.protocol import fields
from chat.realtime import groups

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession

logger = logging.getLogger(__name__)


async def typing(session: ChatSession, frame: dict[str, Any]) -> None:
    """`typing {room}`: tell the room's other connections, at most once per CHAT_TYPING_INTERVAL."""
    slug = fields.room_slug(frame)
    room_id = session.room_ids_by_slug.get(slug)
    if room_id is None:
        raise NotSubscribed()
    subscription = session.subscriptions[room_id]
    now = time.monotonic()
    if now - subscription.last_typing < settings.CHAT_TYPING_INTERVAL:
        return  # throttled: typing is a hint, a dropped one costs nothing
    subscription.last_typing = now
    event = {
        "type": "chat.typing",
        "room_id": room_id,
        "user_id": session.user.pk,
        "user": session.user.get_username(),
    }
    try:
        await session.layer.group_send(groups.room_group(room_id), event)
    except Exception as exc:  # Redis down: typing is ephemeral, drop it
        logger.info("typing not relayed: %r", exc)


async def typing_event(session: ChatSession, event: dict[str, Any]) -> None:
    """Someone else is typing in a subscribed room."""
    subscription = session.subscriptions.get(event["room_id"])
    if subscription is None or event["user_id"] == session.user.pk:
        return
    if session.layer.backlog(session.channel_name) > settings.CHAT_SHED_BACKLOG:
        return  # under load, ephemeral events go first; messages are never shed
    await session.send({"type": "typing", "room": subscription.slug, "user": event["user"]})


async def presence_event(session: ChatSession, event: dict[str, Any]) -> None:
    """Who is online in a subscribed room changed."""
    subscription = session.subscriptions.get(event["room_id"])
    if subscription is not None:
        frame = {key: event[key] for key in ("users", "joined", "left")}
        await session.send({"type": "presence", "room": subscription.slug, **frame})


FRAMES = {"typing": typing}
EVENTS = {"chat.typing": typing_event, "chat.presence": presence_event}
