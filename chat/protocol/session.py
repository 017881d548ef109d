"""The JSON chat protocol (docs/protocol.md), independent of the transport that carries it.

A transport adapter (the WebSocket consumer, a fallback transport) creates one
ChatSession per client connection, feeds it the client's text frames and the channel
layer's events, and gives it two callbacks: send a text frame, close with a code.
"""

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import batching, selectors, services
from chat.domain.errors import (
    ChatError,
    InvalidField,
    InvalidFrame,
    InvalidJson,
    NotSubscribed,
    RateLimited,
    TooManySubscriptions,
    UnknownType,
)
from chat.models import Message, Room
from chat.protocol import closecodes
from chat.protocol import repair as delivery
from chat.realtime import events, groups, metrics, presence

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")

# Close codes (docs/protocol.md).
# Rate-limited sends in a row after which the connection is closed.
FLOOD_STRIKES = 20
FILL_PAGE = 500


# Messages held back at most while an earlier one may still be in flight (see Subscription.held).
HOLD_LIMIT = 100


@dataclass
class Subscription:
    """A room this connection receives; `cursor` is the highest seq sent to the client."""

    room_id: int
    slug: str
    cursor: int
    presence_entry: presence.Presence | None = None
    last_typing: float = 0.0
    # Live messages that arrived ahead of a missing seq: seq -> (frame, committed_at). Two nodes'
    # publishes to one room can overtake each other on the way through Redis, so the missing one is
    # usually a few milliseconds behind; it gets CHAT_GAP_WAIT seconds before the gap is filled from
    # the database (a thread hop that holds up every delivery of this node meanwhile).
    held: dict[int, tuple[str, float | None]] = field(default_factory=dict)
    gap_timer: asyncio.TimerHandle | None = None


def _frame_dicts(messages: list[Message], slug: str) -> list[dict[str, Any]]:
    return [events.message_frame(m, room_slug=slug) for m in messages]


def _frames(messages: list[Message], slug: str) -> list[str]:
    return [events.encode(frame) for frame in _frame_dicts(messages, slug)]


def _stored_frames(room_id: int, slug: str, after_seq: int, upto_seq: int) -> list[str]:
    return _frames(selectors.messages_between(room=room_id, after_seq=after_seq, upto_seq=upto_seq), slug)


# --- frame field readers ---------------------------------------------------------------


def _room_slug(frame: dict[str, Any]) -> str:
    slug = frame.get("room")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise InvalidField("room must be a room slug (1-64 of a-z A-Z 0-9 - _).")
    return slug


def _optional_int(
    frame: dict[str, Any], name: str, *, minimum: int, maximum: int | None = None
) -> int | None:
    value = frame.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InvalidField(f"{name} must be an integer {bounds}.")
    return value


def _string(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise InvalidField(f"{name} must be a string.")
    return value


def _ref(frame: Any) -> str | None:
    """What an error frame points at: the client_msg_id, else the frame's type."""
    if not isinstance(frame, dict):
        return None
    for key in ("client_msg_id", "type"):
        value = frame.get(key)
        if isinstance(value, str):
            return value[:64]
    return None


# Channel-layer event type -> ChatSession method (looked up per event: the hot path).
EVENT_HANDLERS = {
    "chat.message": "on_room_message",
    "chat.room_head": "on_room_head",
    "chat.gap_check": "on_gap_check",
    "chat.message_deleted": "on_message_deleted",
    "chat.notify": "on_notify",
    "chat.room_changed": "on_room_changed",
    "chat.access_revoked": "on_access_revoked",
    "chat.session_ended": "on_session_ended",
    "chat.presence": "on_presence",
    "chat.typing": "on_typing_event",
}


class ChatSession:
    """One client connection's protocol state: its subscriptions and what it has been sent."""

    def __init__(
        self,
        *,
        user,
        session_key: str | None,
        layer,
        channel_name: str,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        transport: str = "websocket",
    ) -> None:
        self.user = user
        self.transport = transport
        self.session_fingerprint = services.session_fingerprint(session_key) if session_key else None
        self.layer = layer
        self.channel_name = channel_name
        self.send_text = send_text
        self.close = close
        self.subscriptions: dict[int, Subscription] = {}
        self.room_ids_by_slug: dict[str, int] = {}
        self.flood_strikes = 0
        self.closed = False
        self.opened = False
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "ping": self.on_ping,
            "subscribe": self.on_subscribe,
            "unsubscribe": self.on_unsubscribe,
            "message.send": self.on_message_send,
            "history.fetch": self.on_history_fetch,
            "rooms.list": self.on_rooms_list,
            "typing": self.on_typing,
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Join the user's and the lobby's groups (before the transport accepts)."""
        await self.layer.group_add(groups.user_group(self.user.pk), self.channel_name)
        await self.layer.group_add(groups.LOBBY_GROUP, self.channel_name)
        delivery.ensure_repair_loop()
        metrics.CONNECTIONS.labels(self.transport).inc()
        self.opened = True

    async def shutdown(self) -> None:
        """Leave every group; called once when the transport is gone."""
        self.closed = True
        if self.opened:
            metrics.CONNECTIONS.labels(self.transport).dec()
            self.opened = False
        for room_id in list(self.subscriptions):
            await self._drop_subscription(room_id)
        for group in (groups.user_group(self.user.pk), groups.LOBBY_GROUP):
            await self.layer.group_discard(group, self.channel_name)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(events.encode(frame))

    async def send_error(self, error: ChatError, ref: str | None) -> None:
        metrics.ERRORS.labels(error.code).inc()
        await self.send({"type": "error", "code": error.code, "detail": error.detail, "ref": ref})

    # --- client frames -----------------------------------------------------------------

    async def receive_text(self, text: str) -> None:
        """Handle one client text frame; every failure becomes an `error` frame."""
        frame: Any = None
        try:
            try:
                frame = json.loads(text)
            except ValueError:
                raise InvalidJson() from None
            if not isinstance(frame, dict):
                raise InvalidJson("The frame must be a JSON object.")
            kind = frame.get("type")
            handler = self.handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise UnknownType(f"Unknown frame type {str(kind)[:64]!r}.")
            await handler(frame)
        except ChatError as error:
            await self.send_error(error, _ref(frame))
        except Exception:
            logger.exception("unexpected error handling a %r frame", _ref(frame))
            await self.send(
                {"type": "error", "code": "internal_error", "detail": "Server error.", "ref": _ref(frame)}
            )

    async def receive_binary(self) -> None:
        """Binary frames are not part of the protocol."""
        await self.send_error(InvalidFrame(), None)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send({"type": "pong"})

    async def on_subscribe(self, frame: dict[str, Any]) -> None:
        slug = _room_slug(frame)
        since = _optional_int(frame, "since", minimum=0)
        room = await database_sync_to_async(selectors.room_get_readable)(slug=slug, user=self.user)
        subscription = self.subscriptions.get(room.pk)
        created = subscription is None
        if created:
            if len(self.subscriptions) >= settings.CHAT_MAX_SUBSCRIPTIONS:
                raise TooManySubscriptions()
            # Join the group before reading the database, so that nothing committed
            # after the read can be missed; duplicates are dropped by seq below.
            await self.layer.group_add(groups.room_group(room.pk), self.channel_name)
            subscription = Subscription(room_id=room.pk, slug=room.slug, cursor=0)
            self.subscriptions[room.pk] = subscription
            metrics.SUBSCRIPTIONS.inc()
            self.room_ids_by_slug[room.slug] = room.pk
        try:
            texts, cursor = await database_sync_to_async(self._catch_up)(room, since)
        except Exception:
            if created:  # a new subscription that never started: undo it
                await self._drop_subscription(room.pk)
            raise
        subscription.cursor = cursor
        for text in texts:
            await self.send_text(text)
        if subscription.presence_entry is None:
            subscription.presence_entry = presence.Presence(
                room_id=room.pk,
                user_id=self.user.pk,
                username=self.user.get_username(),
                connection_id=self.channel_name,
            )
            online = await presence.join(subscription.presence_entry)
            await self.send(
                {"type": "presence", "room": room.slug, "users": online, "joined": [], "left": []}
            )

    def _catch_up(self, room: Room, since: int | None) -> tuple[list[str], int]:
        """Frames that bring a (re)subscribing client up to date, and the seq they reach."""
        info = events.room_frame(room)
        if since is None:
            messages, has_more = selectors.messages_before(
                room=room, before_seq=None, limit=settings.CHAT_HISTORY_PAGE
            )
            cursor = messages[-1].seq if messages else 0
            history = {
                "type": "history",
                "room": room.slug,
                "messages": _frame_dicts(messages, room.slug),
                "has_more": has_more,
            }
            subscribed = {"type": "subscribed", "room": room.slug, "last_seq": cursor, "info": info}
            return [events.encode(subscribed), events.encode(history)], cursor

        last_seq = selectors.room_last_seqs(room_ids=[room.pk])[room.pk]
        limit = settings.CHAT_CATCHUP_LIMIT
        messages = (
            [] if since > last_seq else selectors.messages_after(room=room, after_seq=since, limit=limit + 1)
        )
        if since > last_seq or len(messages) > limit:
            # Too far behind (or ahead of the server): the client pages with history.fetch.
            subscribed = {
                "type": "subscribed",
                "room": room.slug,
                "last_seq": last_seq,
                "recovered": False,
                "info": info,
            }
            return [events.encode(subscribed)], last_seq
        cursor = messages[-1].seq if messages else since
        subscribed = {
            "type": "subscribed",
            "room": room.slug,
            "last_seq": cursor,
            "recovered": True,
            "info": info,
        }
        return [events.encode(subscribed), *_frames(messages, room.slug)], cursor

    async def on_unsubscribe(self, frame: dict[str, Any]) -> None:
        slug = _room_slug(frame)
        room_id = self.room_ids_by_slug.get(slug)
        if room_id is None:
            raise NotSubscribed()
        await self._drop_subscription(room_id)
        await self.send({"type": "unsubscribed", "room": slug})

    async def _drop_subscription(self, room_id: int) -> Subscription | None:
        subscription = self.subscriptions.pop(room_id, None)
        if subscription is not None:
            if subscription.gap_timer is not None:
                subscription.gap_timer.cancel()
            metrics.SUBSCRIPTIONS.dec()
            self.room_ids_by_slug.pop(subscription.slug, None)
            await self.layer.group_discard(groups.room_group(room_id), self.channel_name)
            if subscription.presence_entry is not None:
                await presence.leave(subscription.presence_entry)
        return subscription

    async def on_message_send(self, frame: dict[str, Any]) -> None:
        slug = _room_slug(frame)
        body = _string(frame, "body")
        client_msg_id = _string(frame, "client_msg_id")
        services.message_validate(body=body, client_msg_id=client_msg_id)  # no database trip if refused
        try:
            message, created = await batching.store_message(
                services.MessageRequest(
                    room_slug=slug, author=self.user, body=body, client_msg_id=client_msg_id
                )
            )
        except RateLimited:
            metrics.RATE_LIMITED.inc()
            self.flood_strikes += 1
            if self.flood_strikes > FLOOD_STRIKES:
                await self.send_error(
                    RateLimited("Still flooding after rate-limit errors; closing."), client_msg_id
                )
                await self.close(closecodes.RATE_LIMITED)
                return
            raise
        self.flood_strikes = 0
        if created:
            metrics.MESSAGES_RECEIVED.inc()
        await self.send(
            {
                "type": "message.ack",
                "room": slug,
                "client_msg_id": client_msg_id,
                "seq": message.seq,
                "id": message.pk,
                "created_at": message.created_at.isoformat(),
            }
        )

    async def on_history_fetch(self, frame: dict[str, Any]) -> None:
        slug = _room_slug(frame)
        before_seq = _optional_int(frame, "before_seq", minimum=1)
        limit = _optional_int(frame, "limit", minimum=1, maximum=settings.CHAT_HISTORY_MAX_PAGE)
        page, has_more = await database_sync_to_async(self._history)(
            slug, before_seq, limit or settings.CHAT_HISTORY_PAGE
        )
        await self.send({"type": "history", "room": slug, "messages": page, "has_more": has_more})

    def _history(self, slug: str, before_seq: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        room = selectors.room_get_readable(slug=slug, user=self.user)
        messages, has_more = selectors.messages_before(room=room, before_seq=before_seq, limit=limit)
        return _frame_dicts(messages, slug), has_more

    async def on_typing(self, frame: dict[str, Any]) -> None:
        slug = _room_slug(frame)
        room_id = self.room_ids_by_slug.get(slug)
        if room_id is None:
            raise NotSubscribed()
        subscription = self.subscriptions[room_id]
        now = time.monotonic()
        if now - subscription.last_typing < settings.CHAT_TYPING_INTERVAL:
            return  # throttled: typing is a hint, a dropped one costs nothing
        subscription.last_typing = now
        event = {
            "type": "chat.typing",
            "room_id": room_id,
            "user_id": self.user.pk,
            "user": self.user.get_username(),
        }
        try:
            await self.layer.group_send(groups.room_group(room_id), event)
        except Exception as exc:  # Redis down: typing is ephemeral, drop it
            logger.info("typing not relayed: %r", exc)

    async def on_rooms_list(self, frame: dict[str, Any]) -> None:
        rooms = await database_sync_to_async(
            lambda: [events.room_frame(r) for r in selectors.rooms_visible_to(user=self.user)[:1000]]
        )()
        await self.send({"type": "rooms", "rooms": rooms})

    # --- channel-layer events ----------------------------------------------------------

    async def receive_event(self, event: dict[str, Any]) -> None:
        """Handle an event from the channel layer (type `chat.*`)."""
        name = EVENT_HANDLERS.get(event.get("type"))
        if name is None or self.closed:
            return
        try:
            await getattr(self, name)(event)
        except Exception:
            # A failed gap fill (database briefly down) is retried by the next event or repair
            # tick, since the cursor did not move; the connection must not die of it.
            logger.exception("error handling a %s event", event.get("type"))

    async def on_room_message(self, event: dict[str, Any]) -> None:
        subscription = self.subscriptions.get(event["room_id"])
        seq = event["seq"]
        if subscription is None or seq <= subscription.cursor:
            return  # not subscribed, or already sent (catch-up or repair got there first)
        if seq > subscription.cursor + 1:
            subscription.held[seq] = (event["text"], event.get("committed_at"))
            if len(subscription.held) > HOLD_LIMIT:
                await self._fill_gap(subscription)
            else:
                self._wait_for_gap(subscription)
            return
        await self._send_live(subscription, seq, event["text"], event.get("committed_at"))
        if subscription.held:
            await self._release_held(subscription)

    async def _send_live(
        self, subscription: Subscription, seq: int, text: str, committed_at: float | None
    ) -> None:
        await self.send_text(text)
        subscription.cursor = seq
        metrics.DELIVERIES.record(None if committed_at is None else max(0.0, time.time() - committed_at))

    async def _release_held(self, subscription: Subscription) -> None:
        """Send the held messages that now follow the cursor; wait again if a gap is left."""
        held = subscription.held
        for seq in [seq for seq in held if seq <= subscription.cursor]:
            del held[seq]  # a fill got there first
        while subscription.cursor + 1 in held:
            seq = subscription.cursor + 1
            await self._send_live(subscription, seq, *held.pop(seq))
        if held:
            self._wait_for_gap(subscription)
        elif subscription.gap_timer is not None:
            subscription.gap_timer.cancel()
            subscription.gap_timer = None

    def _wait_for_gap(self, subscription: Subscription) -> None:
        if subscription.gap_timer is None:
            # The check comes back as an event, so it runs in turn with this connection's others.
            subscription.gap_timer = asyncio.get_running_loop().call_later(
                settings.CHAT_GAP_WAIT,
                self.layer.send_local,
                self.channel_name,
                {"type": "chat.gap_check", "room_id": subscription.room_id},
            )

    async def on_gap_check(self, event: dict[str, Any]) -> None:
        subscription = self.subscriptions.get(event["room_id"])
        if subscription is not None:
            subscription.gap_timer = None
            if subscription.held:
                await self._fill_gap(subscription)

    async def _fill_gap(self, subscription: Subscription) -> None:
        """The missing messages did not come live: read them from the database."""
        await self._fill(subscription, upto_seq=min(subscription.held) - 1)
        await self._release_held(subscription)

    async def on_room_head(self, event: dict[str, Any]) -> None:
        subscription = self.subscriptions.get(event["room_id"])
        if subscription is not None and event["last_seq"] > subscription.cursor:
            await self._fill(subscription, upto_seq=event["last_seq"])
            if subscription.held:
                await self._release_held(subscription)

    async def _fill(self, subscription: Subscription, *, upto_seq: int) -> None:
        """Send the stored messages between the cursor and upto_seq (a lost or late broadcast)."""
        while subscription.cursor < upto_seq and self.subscriptions.get(subscription.room_id) is subscription:
            page_end = min(upto_seq, subscription.cursor + FILL_PAGE)
            texts = await database_sync_to_async(_stored_frames)(
                subscription.room_id, subscription.slug, subscription.cursor, page_end
            )
            for text in texts:
                await self.send_text(text)
            metrics.REPAIRED.inc(len(texts))
            subscription.cursor = page_end

    async def on_message_deleted(self, event: dict[str, Any]) -> None:
        if event["room_id"] in self.subscriptions:
            await self.send_text(event["text"])

    async def on_notify(self, event: dict[str, Any]) -> None:
        await self.send_text(event["text"])

    async def on_room_changed(self, event: dict[str, Any]) -> None:
        visible = not event["private"] or self.user.pk in event["member_ids"]
        if visible:
            await self.send_text(event["text"])
        elif event["was_public"]:
            await self._revoke(event["room_id"], slug=json.loads(event["text"])["room"]["slug"])

    async def on_access_revoked(self, event: dict[str, Any]) -> None:
        await self._revoke(event["room_id"], slug=event["slug"])

    async def _revoke(self, room_id: int, *, slug: str) -> None:
        subscription = await self._drop_subscription(room_id)
        if subscription is not None:
            await self.send({"type": "unsubscribed", "room": subscription.slug, "reason": "forbidden"})
        await self.send({"type": "room.removed", "room": slug})

    async def on_presence(self, event: dict[str, Any]) -> None:
        subscription = self.subscriptions.get(event["room_id"])
        if subscription is not None:
            frame = {key: event[key] for key in ("users", "joined", "left")}
            await self.send({"type": "presence", "room": subscription.slug, **frame})

    async def on_typing_event(self, event: dict[str, Any]) -> None:
        subscription = self.subscriptions.get(event["room_id"])
        if subscription is None or event["user_id"] == self.user.pk:
            return
        if self.layer.backlog(self.channel_name) > settings.CHAT_SHED_BACKLOG:
            return  # under load, ephemeral events go first; messages are never shed
        await self.send({"type": "typing", "room": subscription.slug, "user": event["user"]})

    async def on_session_ended(self, event: dict[str, Any]) -> None:
        if self.session_fingerprint is not None and event["session"] == self.session_fingerprint:
            await self.close(closecodes.UNAUTHENTICATED)
