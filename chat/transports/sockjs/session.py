"""One SockJS session's state machine, on the node that owns it (chat/transports/sockjs/relay.py
routes other nodes' requests to it).

A session holds at most one receiving request at a time (xhr, xhr_streaming, eventsource), buffers
frames for the client between requests, takes the messages of `xhr_send`, and runs its handler (the
chat protocol, or a conformance-suite service) one message or event at a time.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chat.protocol import closecodes
from chat.transports.sockjs import framing
from chat.transports.sockjs.endpoints import Endpoint
from chat.transports.sockjs.handlers import make_handler

logger = logging.getLogger(__name__)

NEW, OPEN, CLOSING, CLOSED = "new", "open", "closing", "closed"
# Messages taken from clients but not yet handled, per session (xhr_send answers 429 beyond).
INBOX_LIMIT = 200


# --- receivers: where a session's frames go -------------------------------------------------


@dataclass(eq=False)
class Receiver:
    """A receiving request (xhr, xhr_streaming, eventsource) attached to a session."""

    polling: bool  # one frame, then the response ends
    overhead: int  # the transport's bytes around each frame, counted against the limit
    limit: int  # a streaming response ends after this many bytes
    sent: int = 0

    async def write(self, frame: str, end: bool) -> None:
        raise NotImplementedError


@dataclass(eq=False)
class LocalReceiver(Receiver):
    """A request held by this node: frames go through a queue to the HTTP handler."""

    queue: asyncio.Queue | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue()

    async def write(self, frame: str, end: bool) -> None:
        self.queue.put_nowait((frame, end))


# --- the session -----------------------------------------------------------------------------


class Session:
    """One SockJS session's state machine, as the SockJS protocol defines it.

    new -> open (the first receiver got "o") -> closing (closed by the server or by an aborted
    request; requests get the close frame) -> closed (disconnect_delay without a receiver).
    """

    def __init__(
        self, endpoint: Endpoint, session_id: str, *, user, session_key, transport: str, meta=None
    ) -> None:
        self.endpoint = endpoint
        self.session_id = session_id
        self.user = user
        self.user_id = user.pk if user is not None and user.is_authenticated else None
        self.session_key = session_key
        self.transport = transport
        self.meta = meta
        self.channel = ""
        self.state = NEW
        self.receiver: Receiver | None = None
        self.outbox: list[str] = []
        self.outbox_bytes = 0
        self.close_frame = ""
        self.lock = asyncio.Lock()
        self.opened = asyncio.Event()
        # Client messages (str) and channel-layer events (dict), handled one at a time, in
        # arrival order, as a WebSocket consumer handles its frames and events.
        self.inbox: asyncio.Queue[str | dict[str, Any]] = asyncio.Queue()
        self.waiting_messages = 0
        self.handler = None
        self._expiry: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self._last_heartbeat = time.monotonic()

    def start(self, layer, channel: str) -> None:
        """Create the handler, with `channel` as its channel-layer name, and run the session's tasks."""
        self.channel = channel
        self.handler = make_handler(
            self.endpoint.name,
            self,
            user=self.user,
            session_key=self.session_key,
            layer=layer,
            channel_name=channel,
            transport=self.transport,
            meta=self.meta,
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(coro) for coro in (self._ticker(), self._inbox_loop())]

    def allows(self, user_id: int | None) -> bool:
        return user_id == self.user_id

    # Connection API for the handler ------------------------------------------------------

    async def send(self, text: str) -> None:
        async with self.lock:
            if self.state != OPEN:
                return
            self.outbox.append(text)
            self.outbox_bytes += len(text)
            if self.receiver is not None:
                await self._flush()
            too_slow = self.outbox_bytes > settings.CHAT_SOCKJS_OUTBOX_LIMIT
        if too_slow:
            logger.warning(
                "closing SockJS session: %d bytes unfetched (client not reading)", self.outbox_bytes
            )
            self.outbox.clear()
            await self.close(closecodes.TOO_SLOW, "Client not reading")

    async def close(self, code: int, reason: str) -> None:
        async with self.lock:
            if self.state in (CLOSING, CLOSED):
                return
            was_open = self.state == OPEN
            self.state = CLOSING
            self.close_frame = framing.close(code, reason)
            receiver = self.receiver
            if receiver is not None:
                if self.outbox:
                    await self._flush()
                if self.receiver is receiver:
                    await self._deliver(self.close_frame, end=True)
            elif self._expiry is None:
                self._start_expiry()
        if was_open:
            await self._handler_closed()

    # Receivers ---------------------------------------------------------------------------

    async def attach(self, receiver: Receiver) -> None:
        opened_now = False
        async with self.lock:
            if self.receiver is not None:
                await receiver.write(framing.ANOTHER_CONNECTION, True)
                return
            if self.state == CLOSED:
                await receiver.write(framing.SESSION_LOST, True)
                return
            if self.state == CLOSING:
                # Served without attaching: the session's timeout keeps running, so a client
                # that keeps asking cannot keep a closed session alive.
                if self.outbox:
                    frame = framing.messages(self.outbox)
                    self.outbox, self.outbox_bytes = [], 0
                    await receiver.write(frame, True)
                else:
                    await receiver.write(self.close_frame, True)
                return
            self._cancel_expiry()
            self.receiver = receiver
            if self.state == NEW:
                self.state = OPEN
                opened_now = True
                await self._deliver(framing.OPEN)
            elif self.outbox:
                await self._flush()
        if opened_now:
            try:
                await self.handler.opened()
            except Exception:
                logger.exception("SockJS session handler failed to open")
                await self.close(3000, "Internal error")
            self.opened.set()

    async def detach(self, receiver: Receiver, *, aborted: bool) -> None:
        """The receiving request ended without the server ending it (the client went away)."""
        async with self.lock:
            if self.receiver is not receiver:
                return
            self.receiver = None
            self._start_expiry()
        if aborted:
            # As the protocol asks: messages may have been lost with the request, so the
            # session ends; the client opens a new one and catches up with `since`.
            await self.close(1002, "Connection interrupted")

    def take(self, messages: list[str]) -> bool:
        """Messages from xhr_send; False when too many are waiting (the client must slow down)."""
        if self.state not in (NEW, OPEN):
            return True  # a closing session drops them, as the protocol does
        if self.waiting_messages + len(messages) > INBOX_LIMIT:
            return False
        self.waiting_messages += len(messages)
        for message in messages:
            self.inbox.put_nowait(message)
        return True

    # Internals (called with the lock held) -------------------------------------------

    async def _flush(self) -> None:
        frame = framing.messages(self.outbox)
        self.outbox = []
        self.outbox_bytes = 0
        await self._deliver(frame)

    async def _deliver(self, frame: str, *, end: bool = False) -> None:
        receiver = self.receiver
        receiver.sent += len(frame.encode()) + receiver.overhead
        end = end or receiver.polling or receiver.sent >= receiver.limit
        if end:
            self.receiver = None
            self._start_expiry()
        await receiver.write(frame, end)

    def _start_expiry(self) -> None:
        self._cancel_expiry()
        self._expiry = asyncio.get_running_loop().create_task(self._expire_later())

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def _expire_later(self) -> None:
        await asyncio.sleep(self.endpoint.disconnect_delay)
        async with self.lock:
            if self.receiver is not None:
                return
            was_open = self.state == OPEN
            self.state = CLOSED
        if was_open:
            await self._handler_closed()
        await self._teardown()

    async def _handler_closed(self) -> None:
        try:
            await self.handler.closed()
        except Exception:
            logger.exception("SockJS session handler failed to close")

    async def _teardown(self) -> None:
        for task in self._tasks:
            task.cancel()

    # Background tasks ----------------------------------------------------------------

    tick_interval: float | None = None  # None: the endpoint's heartbeat interval

    async def _ticker(self) -> None:
        """Heartbeats to the receiver, and the `tick()` hook."""
        tick = self.tick_interval or self.endpoint.heartbeat
        while True:
            await asyncio.sleep(min(tick, self.endpoint.heartbeat))
            await self.tick()
            if time.monotonic() - self._last_heartbeat >= self.endpoint.heartbeat:
                self._last_heartbeat = time.monotonic()
                if not await self.receiver_alive():
                    continue
                async with self.lock:
                    if self.receiver is not None and self.state == OPEN:
                        await self._deliver(framing.HEARTBEAT)

    async def tick(self) -> None:
        """Called every tick_interval; a subclass keeps what routes to it alive."""

    async def receiver_alive(self) -> bool:
        """Whether the attached receiver can still be reached (detach it otherwise)."""
        return True

    async def _inbox_loop(self) -> None:
        await self.opened.wait()
        while True:
            item = await self.inbox.get()
            if isinstance(item, str):
                self.waiting_messages -= 1
            if self.state != OPEN:
                continue
            try:
                if isinstance(item, str):
                    await self.handler.received(item)
                else:
                    await self.handler.event(item)
            except Exception:
                logger.exception("SockJS session handler failed")
