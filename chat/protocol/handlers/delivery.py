"""Live delivery of a room's messages in seq order, exactly once per connection.

A live message goes out if it is the next seq; one ahead of a gap is held (chat/protocol/cursor.py)
for CHAT_GAP_WAIT, then the gap is read from the database; the repair loop's `chat.room_head` fills
whatever live delivery lost. Every fill from the database first checks that the user may still read
the room, and ends the subscription if not (as a lost revoking event would have).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.protocol.cursor import Verdict
from chat.protocol.handlers.history import stored_frames
from chat.protocol.handlers.subscriptions import revoke
from chat.realtime import metrics

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession, Subscription

# Most stored messages read per database trip when filling a gap.
FILL_PAGE = 500


async def room_message(session: ChatSession, event: dict[str, Any]) -> None:
    """A live message of a room (the hot path: once per delivery)."""
    subscription = session.subscriptions.get(event["room_id"])
    if subscription is None:
        return  # not subscribed
    seq = event["seq"]
    item = (event["text"], event.get("committed_at"))
    verdict = subscription.cursor.offer(seq, item)
    if verdict is Verdict.SEND:
        await _send_live(session, subscription, seq, item)
        if subscription.cursor.held:
            await _release_held(session, subscription)
    elif verdict is Verdict.HOLD:
        _wait_for_gap(session, subscription)
    elif verdict is Verdict.FILL_NOW:
        await _fill_gap(session, subscription)
    # Verdict.DUPLICATE: already sent (catch-up or repair got there first)


async def _send_live(
    session: ChatSession, subscription: Subscription, seq: int, item: tuple[str, float | None]
) -> None:
    text, committed_at = item
    await session.send_text(text)
    subscription.cursor.advance(seq)
    metrics.DELIVERIES.record(None if committed_at is None else max(0.0, time.time() - committed_at))


async def _release_held(session: ChatSession, subscription: Subscription) -> None:
    """Send the held messages that now follow the cursor; wait again if a gap is left."""
    for seq, item in subscription.cursor.release():
        await _send_live(session, subscription, seq, item)
    if subscription.cursor.held:
        _wait_for_gap(session, subscription)
    elif subscription.gap_timer is not None:
        subscription.gap_timer.cancel()
        subscription.gap_timer = None


def _wait_for_gap(session: ChatSession, subscription: Subscription) -> None:
    if subscription.gap_timer is None:
        # The check comes back as an event, so it runs in turn with this connection's others.
        subscription.gap_timer = asyncio.get_running_loop().call_later(
            settings.CHAT_GAP_WAIT,
            session.layer.send_local,
            session.channel_name,
            {"type": "chat.gap_check", "room_id": subscription.room_id},
        )


async def gap_check(session: ChatSession, event: dict[str, Any]) -> None:
    """CHAT_GAP_WAIT has passed since a message was held: fill the gap if it is still open."""
    subscription = session.subscriptions.get(event["room_id"])
    if subscription is not None:
        subscription.gap_timer = None
        if subscription.cursor.held:
            await _fill_gap(session, subscription)


async def _fill_gap(session: ChatSession, subscription: Subscription) -> None:
    """The missing messages did not come live: read them from the database."""
    gap_end = subscription.cursor.gap_end
    if gap_end is not None and not await _fill(session, subscription, upto_seq=gap_end):
        return
    await _release_held(session, subscription)


async def room_head(session: ChatSession, event: dict[str, Any]) -> None:
    """The repair loop's word on a room's committed head: fill up to it if behind."""
    subscription = session.subscriptions.get(event["room_id"])
    if subscription is not None and event["last_seq"] > subscription.cursor.position:
        if not await _fill(session, subscription, upto_seq=event["last_seq"]):
            return
        if subscription.cursor.held:
            await _release_held(session, subscription)


async def _fill(session: ChatSession, subscription: Subscription, *, upto_seq: int) -> bool:
    """Send the stored messages between the cursor and upto_seq (a lost or late broadcast);
    returns whether the subscription is still on."""
    cursor = subscription.cursor
    while cursor.position < upto_seq:
        if session.subscriptions.get(subscription.room_id) is not subscription:
            return False
        page_end = min(upto_seq, cursor.position + FILL_PAGE)
        texts = await database_sync_to_async(stored_frames)(
            session.user, subscription.room_id, subscription.slug, cursor.position, page_end
        )
        if texts is None:  # access was revoked and its event lost: end it as the event would have
            await revoke(session, subscription.room_id, slug=subscription.slug)
            return False
        for text in texts:
            await session.send_text(text)
        metrics.REPAIRED.inc(len(texts))
        cursor.advance(page_end)
    return session.subscriptions.get(subscription.room_id) is subscription


FRAMES: dict = {}
EVENTS = {"chat.message": room_message, "chat.room_head": room_head, "chat.gap_check": gap_check}
