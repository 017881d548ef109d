"""One client connection's protocol state, and the routing of its frames and events to handlers.

A transport adapter (the WebSocket consumer, a SockJS session) creates one ChatSession per client
connection, feeds it the client's text frames and the channel layer's events, and gives it two
callbacks: send a text frame, close with a code. What each frame and event does lives in
`chat/protocol/handlers/`, one module per feature.
"""

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from chat.domain import accounts
from chat.domain.errors import ChatError, InternalError, InvalidFrame, InvalidJson, UnknownType
from chat.protocol import closecodes, fields, repair
from chat.protocol.cursor import Cursor
from chat.protocol.handlers import CLIENT_FRAMES, LAYER_EVENTS
from chat.realtime import events, groups, metrics, presence, slots, userbatch

logger = logging.getLogger(__name__)

# Transports whose connection is a WebSocket; the others are SockJS sessions over HTTP, capped apart.
SOCKET_TRANSPORTS = {"websocket", "sockjs-websocket"}
# A connection that has more than FLOOD_STRIKES frames refused (any error frame: rate_limited,
# invalid_field, invalid_json, ...) within FLOOD_WINDOW seconds is closed with 4429.
FLOOD_STRIKES = 20
FLOOD_WINDOW = 10.0


@dataclass
class Subscription:
    """A room this connection receives, and where its delivery stands."""

    room_id: int
    slug: str
    # The highest seq sent to the client; held items are (frame text, committed_at).
    cursor: Cursor[tuple[str, float | None]] = field(default_factory=Cursor)
    presence_entry: presence.Presence | None = None
    last_typing: float = 0.0
    # Set while held messages wait CHAT_GAP_WAIT for the missing one before the gap is read from
    # the database (a thread hop that holds up every delivery of this node meanwhile).
    gap_timer: asyncio.TimerHandle | None = None
    # When access to the room was last checked (time.monotonic()): the repair loop's access check
    # applies only to subscriptions checked before its query started.
    access_checked_at: float = field(default_factory=time.monotonic)


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
        api_token_id: int | None = None,
    ) -> None:
        self.user = user
        self.transport = transport
        self.session_key = session_key
        self.session_fingerprint = accounts.session_fingerprint(session_key) if session_key else None
        # The API token the connection signed in with (STOMP's Bearer), if any: revoking it closes.
        self.api_token_id = api_token_id
        # The password hash the session's auth hash was checked against when the connection was
        # authenticated (chat/transports/auth.py); the repair loop compares it with the stored one.
        self.password_hash: str = user.password
        self.layer = layer
        self.channel_name = channel_name
        self.send_text = send_text
        self.close = close
        self.subscriptions: dict[int, Subscription] = {}
        self.room_ids_by_slug: dict[str, int] = {}
        # The users this connection fetched (users.fetch), whose `user.updated` it is sent; None:
        # it fetched so many that it is sent every user's (chat/protocol/handlers/users.py).
        self.watched_user_ids: set[int] | None = set()
        # When the last FLOOD_STRIKES + 1 refusals happened (time.monotonic()); made at the first
        # refusal (a deque is 0.8 kB, and most connections never have a frame refused).
        self.refusals: deque[float] | None = None
        self.closing = False  # closed for flooding: later frames are ignored
        self.closed = False
        self.opened = False
        self.slot: slots.Slot | None = None
        # Set once the server closes the connection for good (end()): frames and events that are
        # still on their way are ignored from then on.
        self.ended = False

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> int | None:
        """Take a connection slot, join the user's and the lobby's groups (before the transport
        accepts); None when open, or the close code to close with (after accepting): the user
        already holds the most connections allowed, on all nodes together."""
        if self.transport in SOCKET_TRANSPORTS:
            kind, limit = "socket", settings.CHAT_MAX_SOCKETS_PER_USER
        else:
            kind, limit = "sockjs", settings.CHAT_MAX_SOCKJS_SESSIONS_PER_USER
        slot = slots.Slot(kind=kind, user_id=self.user.pk, connection_id=self.channel_name)
        if not await slots.acquire(slot, limit=limit):
            logger.info("refused a %s connection of user %s: %d open already", kind, self.user.pk, limit)
            metrics.CONNECTIONS_REFUSED.labels(kind).inc()
            self.closed = True
            return closecodes.TOO_MANY_CONNECTIONS
        self.slot = slot
        await userbatch.ensure_receiving()  # this node's receiver of frames batched for many users
        await self.layer.group_add(groups.user_group(self.user.pk), self.channel_name)
        await self.layer.group_add(groups.LOBBY_GROUP, self.channel_name)
        repair.watch(self)
        metrics.CONNECTIONS.labels(self.transport).inc()
        self.opened = True
        return None

    async def end(self, code: int) -> None:
        """Close the connection with `code` and handle nothing more from it (its user's access
        ended); the transport calls shutdown() once it is gone."""
        if not self.ended:
            self.ended = True
            await self.close(code)

    async def shutdown(self) -> None:
        """Leave every group and give the connection slot back; called once when the transport is gone."""
        self.closed = True
        repair.unwatch(self)
        if self.opened:
            metrics.CONNECTIONS.labels(self.transport).dec()
            self.opened = False
        for room_id in list(self.subscriptions):
            await self.drop_subscription(room_id)
        for group in (groups.user_group(self.user.pk), groups.LOBBY_GROUP):
            await self.layer.group_discard(group, self.channel_name)
        if self.slot is not None:
            slot, self.slot = self.slot, None
            await slots.release(slot)

    # --- sending -------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        """Encode and send one frame."""
        await self.send_text(events.encode(frame))

    async def send_error(self, error: ChatError, ref: str | None) -> None:
        """Send an `error` frame for a refused client frame; close the connection if it floods.

        Each refusal logs one line (no client text in it) and is a flood strike.
        """
        metrics.ERRORS.labels(error.code).inc()
        logger.info("refused a frame of user %s (%s): %s", self.user.pk, self.transport, error.code)
        frame = {"type": "error", "code": error.code, "detail": error.detail, "ref": ref}
        await self.send({**frame, **error.frame_fields()})
        now = time.monotonic()
        if self.refusals is None:
            self.refusals = deque(maxlen=FLOOD_STRIKES + 1)
        self.refusals.append(now)
        if len(self.refusals) > FLOOD_STRIKES and now - self.refusals[0] <= FLOOD_WINDOW and not self.closing:
            self.closing = True
            logger.warning(
                "closing a connection of user %s (%s): more than %d frames refused within %g s",
                self.user.pk, self.transport, FLOOD_STRIKES, FLOOD_WINDOW,
            )  # fmt: skip
            await self.close(closecodes.RATE_LIMITED)

    # --- subscriptions -------------------------------------------------------------------

    async def add_subscription(self, room_id: int, slug: str) -> Subscription:
        """Join a room's group and start its subscription (the caller checked access and caps)."""
        # Join the group before reading the database, so that nothing committed after the read
        # can be missed; duplicates are dropped by seq.
        await self.layer.group_add(groups.room_group(room_id), self.channel_name)
        subscription = Subscription(room_id=room_id, slug=slug)
        self.subscriptions[room_id] = subscription
        metrics.SUBSCRIPTIONS.inc()
        self.room_ids_by_slug[slug] = room_id
        return subscription

    async def drop_subscription(self, room_id: int) -> Subscription | None:
        """Leave a room's group and presence; returns the subscription if there was one."""
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

    # --- routing -------------------------------------------------------------------------

    async def receive_text(self, text: str) -> None:
        """Handle one client text frame; every failure becomes an `error` frame."""
        if self.ended or self.closing:
            return  # a frame that was on its way when the server closed the connection
        frame: Any = None
        try:
            try:
                frame = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
                raise InvalidJson() from None
            if not isinstance(frame, dict):
                raise InvalidJson("The frame must be a JSON object.")
            kind = frame.get("type")
            handler = CLIENT_FRAMES.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise UnknownType(f"Unknown frame type {str(kind)[:64]!r}.")
            await handler(self, frame)
        except ChatError as error:
            await self.send_error(error, fields.ref(frame))
        except Exception:
            logger.exception("unexpected error handling a %r frame", fields.ref(frame))
            await self.send_error(InternalError(), fields.ref(frame))

    async def receive_binary(self) -> None:
        """Binary frames are not part of the protocol."""
        if not self.closing:
            await self.send_error(InvalidFrame(), None)

    async def receive_event(self, event: dict[str, Any]) -> None:
        """Handle an event from the channel layer (type `chat.*`)."""
        handler = LAYER_EVENTS.get(event.get("type"))
        if handler is None or self.closed or self.ended:
            return
        try:
            await handler(self, event)
        except Exception:
            # A failed gap fill (database briefly down) is retried by the next event or repair
            # tick, since the cursor did not move; the connection must not die of it.
            logger.exception("error handling a %s event", event.get("type"))
