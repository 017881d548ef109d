"""Sending messages (replies included), and notifications, which are not part of a room's seq order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.domain import batching, services
from chat.domain.errors import RateLimited
from chat.protocol import closecodes, fields, rendering
from chat.realtime import metrics

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession

# Rate-limited sends in a row after which the connection is closed.
FLOOD_STRIKES = 20


async def message_send(session: ChatSession, frame: dict[str, Any]) -> None:
    """`message.send {room, body, client_msg_id, reply_to?}` -> `message.ack` after commit."""
    slug = fields.room_slug(frame)
    body = fields.string(frame, "body")
    client_msg_id = fields.string(frame, "client_msg_id")
    reply_to = fields.message_id(frame, "reply_to") if frame.get("reply_to") is not None else None
    services.message_validate(body=body, client_msg_id=client_msg_id)  # no database trip if refused
    request = services.MessageRequest(
        room_slug=slug,
        author=session.user,
        body=body,
        client_msg_id=client_msg_id,
        reply_to=reply_to,
        body_html=await rendering.body_html(body),
    )
    try:
        message, created = await batching.store_message(request)
    except RateLimited as error:
        metrics.RATE_LIMITED.inc()
        session.flood_strikes += 1
        if session.flood_strikes > FLOOD_STRIKES:
            closing = RateLimited(
                "Still flooding after rate-limit errors; closing.", retry_after=error.retry_after
            )
            await session.send_error(closing, client_msg_id)
            await session.close(closecodes.RATE_LIMITED)
            return
        raise
    session.flood_strikes = 0
    if created:
        metrics.MESSAGES_RECEIVED.inc()
    await session.send(
        {
            "type": "message.ack",
            "room": slug,
            "client_msg_id": client_msg_id,
            "seq": message.seq,
            "id": message.pk,
            "created_at": message.created_at.isoformat(),
        }
    )


async def notify(session: ChatSession, event: dict[str, Any]) -> None:
    """A notification for this user (a mention), whatever room it is in."""
    await session.send_text(event["text"])


FRAMES = {"message.send": message_send}
EVENTS = {"chat.notify": notify}
