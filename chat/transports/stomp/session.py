"""One STOMP connection over a ChatSession: STOMP frames in, the chat protocol's frames out as
MESSAGE, RECEIPT and ERROR frames (docs/stomp.md).

Every rule (access, validation, rate limits, seq order, catch-up) is the ChatSession's: a SUBSCRIBE
becomes a `subscribe` frame, a SEND a `message.send`, and what the ChatSession sends back is
translated per STOMP subscription and layout. The handler talks to its transport through a
Connection (send one text message, close with a code), so the same handler serves the WebSocket
endpoint and SockJS sessions.

Why one module of about 500 lines: it is one state machine (CONNECT, heart-beats, subscriptions and
their per-subscription cursors, receipts, the translation back) whose parts share the connection's
state; the codec (frames.py), the destination table (destinations.py), sign-in (auth.py) and the
endpoints are apart. Split the translation of outgoing frames out first if it grows.
"""

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import rooms
from chat.protocol import closecodes
from chat.protocol.session import ChatSession
from chat.transports.stomp import auth, destinations
from chat.transports.stomp.frames import MAX_FRAME_BYTES, Frame, FrameError, encode, parse

logger = logging.getLogger(__name__)

VERSIONS = ("1.0", "1.1", "1.2")
ACK_MODES = ("auto", "client", "client-individual")
# A client's heart-beats may be this late (a factor of the negotiated interval) before it is dead.
HEARTBEAT_GRACE = 2.0


class Connection(Protocol):
    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class StompError(Exception):
    """A refusal: an ERROR frame with this `message` header and body, then the connection closes."""

    def __init__(self, message: str, detail: str = "", *, receipt: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.receipt = receipt


@dataclass(eq=False)
class StompSubscription:
    id: str
    destination: str
    layout: str
    slug: str | None
    ack: str
    # The highest seq sent on this subscription; None until the ChatSession's `subscribed` says
    # where the catch-up starts (a room's STOMP subscriptions share one ChatSession subscription).
    seq: int | None = None


@dataclass
class PendingSubscribe:
    subscription: StompSubscription
    since: int | None
    receipt: str | None


# The last chat frame translated and its decoded form: a node's dispatcher hands the same text to
# every local connection of a room in turn, so each delivery is decoded once per node, not once
# per connection (per process is the point: nothing here is shared state).
# The whole MESSAGE frame is kept too, per (layout, destination, subscription id, ack mode, version):
# the connections of a room that subscribed alike (the same client code) get the same string, so
# each delivery after the node's first is one send, and the frame's WebSocket framing is cached
# (config/server.py) as for /ws/.
_last_decoded: tuple[str, dict[str, Any]] = ("", {})
_last_bodies: dict[str, bytes] = {}
_last_frames: dict[tuple[str, str, str, str, str], str] = {}


def _decode(text: str) -> dict[str, Any]:
    global _last_decoded, _last_bodies, _last_frames
    if _last_decoded[0] is not text:
        _last_decoded = (text, json.loads(text))
        _last_bodies = {}
        _last_frames = {}
    return _last_decoded[1]


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class StompHandler:
    """One STOMP connection: CONNECT, then SUBSCRIBE/UNSUBSCRIBE/SEND/ACK/NACK/DISCONNECT."""

    def __init__(
        self,
        connection: Connection,
        *,
        user,
        session_key: str | None,
        layer,
        channel_name: str,
        transport: str,
        meta: dict[str, str] | None = None,
    ) -> None:
        self.connection = connection
        self.cookie_user = user if user is not None and user.is_authenticated else None
        self.session_key = session_key
        self.layer = layer
        self.channel_name = channel_name
        self.transport = transport
        self.meta = meta or {}
        self.version = "1.2"
        self.chat: ChatSession | None = None
        self.subscriptions: dict[str, StompSubscription] = {}
        self.room_subscriptions: dict[str, list[StompSubscription]] = {}
        self.notification_subscriptions: list[StompSubscription] = []
        self.pending_subscribes: dict[str, deque[PendingSubscribe]] = {}
        self.receipts: dict[str, str | None] = {}  # the core's ref -> the RECEIPT to send, if asked
        self.public_room_ready = False
        self.closing = False
        self.message_counter = 0
        self.last_received = time.monotonic()
        self.heartbeat_task: asyncio.Task | None = None

    # --- the Connection's side ---------------------------------------------------------------

    async def opened(self) -> None:
        """Nothing until CONNECT: the client authenticates there."""

    async def received(self, data: str | bytes) -> None:
        """One transport message: whole frames, or heart-beat EOLs."""
        if self.closing:
            return
        self.last_received = time.monotonic()
        raw = data.encode("utf-8") if isinstance(data, str) else data
        try:
            if len(raw) > MAX_FRAME_BYTES + 1:
                raise StompError("frame_too_large", f"A frame may have at most {MAX_FRAME_BYTES} bytes.")
            try:
                frames = parse(raw, version=self.version)
            except FrameError as error:
                raise StompError("invalid_frame", str(error)) from None
            for frame in frames:
                await self.handle(frame)
                if self.closing:
                    return
        except StompError as error:
            await self.refuse(error)
        except Exception:
            logger.exception("unexpected error handling a STOMP frame")
            await self.refuse(StompError("internal_error", "Server error."))

    async def event(self, message: dict[str, Any]) -> None:
        """A channel-layer event: the ChatSession's business."""
        if self.chat is not None and not self.chat.closed and message["type"].startswith("chat."):
            await self.chat.receive_event(message)

    async def closed(self) -> None:
        """The transport is gone."""
        self.closing = True
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
            self.heartbeat_task = None
        if self.chat is not None and not self.chat.closed:
            await self.chat.shutdown()

    # --- sending ----------------------------------------------------------------------------

    async def send_frame(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        await self.connection.send(encode(command, headers, body, version=self.version).decode("utf-8"))

    async def refuse(self, error: StompError, code: int = closecodes.STOMP_ERROR) -> None:
        """ERROR, then close: the spec has the server close the connection after an ERROR frame."""
        if self.closing:
            return
        headers = {"message": error.message, "content-type": "text/plain;charset=utf-8"}
        if error.receipt is not None:
            headers["receipt-id"] = error.receipt
        await self.send_frame("ERROR", headers, error.detail.encode())
        self.closing = True
        await self.connection.close(code, error.message)

    # --- client frames --------------------------------------------------------------------

    async def handle(self, frame: Frame) -> None:
        command = frame.command
        if self.chat is None:
            if command not in ("CONNECT", "STOMP"):
                raise StompError("not_connected", "The first frame must be CONNECT.")
            await self.connect(frame)
            return
        handler = {
            "SUBSCRIBE": self.subscribe,
            "UNSUBSCRIBE": self.unsubscribe,
            "SEND": self.send,
            "ACK": self.ack,
            "NACK": self.ack,
            "DISCONNECT": self.disconnect,
        }.get(command)
        if handler is None:
            if command in ("CONNECT", "STOMP"):
                raise StompError("already_connected", "CONNECT was already received.")
            raise StompError("unsupported", f"{command} is not supported (transactions are not).")
        await handler(frame)

    async def connect(self, frame: Frame) -> None:
        accepted = frame.headers.get("accept-version", "1.0").split(",")
        common = [version for version in VERSIONS if version in {v.strip() for v in accepted}]
        if not common:
            raise StompError("unsupported_version", "Supported protocol versions are 1.0 1.1 1.2.")
        self.version = common[-1]
        user, session_key, token_id = await self.authenticate(frame)
        self.chat = ChatSession(
            user=user,
            session_key=session_key,
            api_token_id=token_id,
            layer=self.layer,
            channel_name=self.channel_name,
            send_text=self.from_chat,
            close=self.chat_closed,
            transport=self.transport,
        )
        await self.chat.open()
        send_every, receive_every = self.negotiate_heartbeat(frame.headers.get("heart-beat", "0,0"))
        headers = {
            "version": self.version,
            "heart-beat": f"{send_every},{receive_every}",
            "server": "chat",
            "session": self.channel_name.rsplit("!", 1)[-1][:32],
            "user-name": user.get_username(),
        }
        await self.send_frame("CONNECTED", headers)
        if send_every or receive_every:
            self.heartbeat_task = asyncio.get_running_loop().create_task(
                self.heartbeats(send_every / 1000, receive_every / 1000)
            )

    async def authenticate(self, frame: Frame):
        """Authorization: Bearer, else login/passcode, else the session cookie; (user, session key,
        API token id) or ERROR."""
        authorization = frame.headers.get("Authorization", frame.headers.get("authorization"))
        if authorization is not None:
            token = await auth.bearer(meta=self.meta, authorization=authorization)
            login = frame.headers.get("login")
            # A `login` beside the token (some clients always send one) must name the token's user.
            if token is None or (login and login != token.user.get_username()):
                raise StompError("bad_credentials", "Bad API token (or too many failed attempts).")
            return token.user, None, token.pk
        login = frame.headers.get("login")
        if login:
            user = await database_sync_to_async(auth.login)(
                meta=self.meta, username=login, password=frame.headers.get("passcode", "")
            )
            if user is None:
                raise StompError("bad_credentials", "Bad login or passcode (or too many failed attempts).")
            return user, None, None
        if self.cookie_user is not None:
            return self.cookie_user, self.session_key, None
        raise StompError(
            "unauthenticated",
            "Sign in: a session cookie, CONNECT login and passcode, or Authorization: Bearer.",
        )

    def negotiate_heartbeat(self, header: str) -> tuple[int, int]:
        """(server sends every, server expects every) in ms, per the spec's max() rule; 0 is never."""
        try:
            client_sends, client_wants = (int(part) for part in header.split(","))
        except ValueError:
            raise StompError("invalid_header", "heart-beat must be two integers: cx,cy.") from None
        if client_sends < 0 or client_wants < 0:
            raise StompError("invalid_header", "heart-beat values must not be negative.")
        ours = settings.CHAT_STOMP_HEARTBEAT
        send_every = max(ours, client_wants) if ours and client_wants else 0
        receive_every = max(ours, client_sends) if ours and client_sends else 0
        return send_every, receive_every

    async def heartbeats(self, send_every: float, receive_every: float) -> None:
        """EOLs to the client; close a client silent for longer than its interval allows."""
        tick = min(interval for interval in (send_every, receive_every) if interval)
        while not self.closing:
            await asyncio.sleep(tick)
            if receive_every and time.monotonic() - self.last_received > receive_every * HEARTBEAT_GRACE:
                logger.info("closing a STOMP connection: no heart-beat for %.0f s", receive_every * 2)
                self.closing = True
                self.heartbeat_task = None  # closing runs closed(), which must not cancel this task
                await self.connection.close(closecodes.STOMP_ERROR, "Heart-beat timeout")
                return
            if send_every:
                await self.connection.send("\n")

    def header(self, frame: Frame, name: str) -> str:
        value = frame.headers.get(name)
        if not value:
            raise StompError(
                "missing_header",
                f"{frame.command} needs a {name!r} header.",
                receipt=frame.headers.get("receipt"),
            )
        return value

    async def subscribe(self, frame: Frame) -> None:
        receipt = frame.headers.get("receipt")
        destination = self.header(frame, "destination")
        sub_id = frame.headers.get("id") or (
            destination if self.version == "1.0" else self.header(frame, "id")
        )
        ack = frame.headers.get("ack", "auto")
        if ack not in ACK_MODES:
            raise StompError("invalid_header", f"ack must be one of {', '.join(ACK_MODES)}.", receipt=receipt)
        if sub_id in self.subscriptions:
            raise StompError(
                "duplicate_subscription", f"Subscription id {sub_id!r} is in use.", receipt=receipt
            )
        target = destinations.subscription_target(destination)
        if target is None:
            raise StompError(
                "unknown_destination", f"No such destination: {destination[:200]!r}.", receipt=receipt
            )
        since_header = frame.headers.get("since")
        since = None
        if since_header is not None:
            if not since_header.isdigit():
                raise StompError("invalid_header", "since must be a non-negative integer.", receipt=receipt)
            since = int(since_header)
        subscription = StompSubscription(sub_id, destination, target.layout, target.slug, ack)
        self.subscriptions[sub_id] = subscription
        if target.layout == destinations.NOTIFICATIONS:
            self.notification_subscriptions.append(subscription)
            if receipt:
                await self.send_frame("RECEIPT", {"receipt-id": receipt})
            return
        if target.layout == destinations.PUBLIC:
            await self.ensure_public_room()
        self.room_subscriptions.setdefault(target.slug, []).append(subscription)
        self.pending_subscribes.setdefault(target.slug, deque()).append(
            PendingSubscribe(subscription, since, receipt)
        )
        ref = f"sub:{sub_id}"
        self.receipts[ref] = receipt
        core_frame: dict[str, Any] = {"type": "subscribe", "room": target.slug, "ref": ref}
        if since is not None:
            core_frame["since"] = since
        await self.chat.receive_text(json.dumps(core_frame))

    async def ensure_public_room(self) -> None:
        if not self.public_room_ready:
            slug = settings.CHAT_STOMP_PUBLIC_ROOM
            await database_sync_to_async(rooms.room_ensure)(slug=slug, title=slug.capitalize())
            self.public_room_ready = True

    async def unsubscribe(self, frame: Frame) -> None:
        receipt = frame.headers.get("receipt")
        sub_id = frame.headers.get("id") or frame.headers.get("destination", "")
        subscription = self.subscriptions.pop(sub_id, None)
        if subscription is None:
            raise StompError("not_subscribed", f"No subscription {sub_id[:200]!r}.", receipt=receipt)
        if subscription.layout == destinations.NOTIFICATIONS:
            self.notification_subscriptions.remove(subscription)
        else:
            others = self.room_subscriptions[subscription.slug]
            others.remove(subscription)
            if not others:
                del self.room_subscriptions[subscription.slug]
                await self.chat.receive_text(
                    json.dumps({"type": "unsubscribe", "room": subscription.slug, "ref": f"unsub:{sub_id}"})
                )
        if receipt:
            await self.send_frame("RECEIPT", {"receipt-id": receipt})

    async def send(self, frame: Frame) -> None:
        receipt = frame.headers.get("receipt")
        destination = self.header(frame, "destination")
        layout = destinations.send_layout(destination)
        if layout is None:
            raise StompError(
                "unknown_destination", f"No such destination: {destination[:200]!r}.", receipt=receipt
            )
        try:
            body = json.loads(frame.text())
        except ValueError:
            raise StompError("invalid_json", "The body must be a JSON object.", receipt=receipt) from None
        if not isinstance(body, dict):
            raise StompError("invalid_json", "The body must be a JSON object.", receipt=receipt)
        post, *announcements = destinations.TYPES[layout]
        kind = body.get("type") or post
        if kind in announcements:
            # ENTER/QUIT (JOIN/LEAVE): presence announces joins and leaves; nothing is stored.
            if receipt:
                await self.send_frame("RECEIPT", {"receipt-id": receipt})
            return
        if kind != post:
            raise StompError(
                "invalid_field", f"type must be one of {post}, {', '.join(announcements)}.", receipt=receipt
            )
        if layout == destinations.ROOM:
            slug, text = body.get("roomId"), body.get("message")
            slug = str(slug) if isinstance(slug, int) and not isinstance(slug, bool) else slug
        else:
            await self.ensure_public_room()
            slug, text = settings.CHAT_STOMP_PUBLIC_ROOM, body.get("content")
        client_msg_id = frame.headers.get("client-msg-id") or receipt or f"stomp-{uuid.uuid4().hex}"
        ref = f"send:{client_msg_id}"
        self.receipts[ref] = receipt
        # Fields the core validates (room, body, client_msg_id); a client's `sender` is never read.
        core_frame = {
            "type": "message.send",
            "room": slug,
            "body": text,
            "client_msg_id": client_msg_id,
            "ref": ref,
        }
        await self.chat.receive_text(json.dumps(core_frame))

    async def ack(self, frame: Frame) -> None:
        """ACK and NACK are accepted and change nothing: delivery is per seq, and a client that
        missed something resubscribes with `since` (docs/stomp.md)."""
        self.header(frame, "id" if self.version == "1.2" else "message-id")
        if frame.headers.get("receipt"):
            await self.send_frame("RECEIPT", {"receipt-id": frame.headers["receipt"]})

    async def disconnect(self, frame: Frame) -> None:
        if frame.headers.get("receipt"):
            await self.send_frame("RECEIPT", {"receipt-id": frame.headers["receipt"]})
        self.closing = True
        await self.connection.close(1000, "Disconnected")

    # --- the ChatSession's frames -----------------------------------------------------------

    async def chat_closed(self, code: int) -> None:
        """The core closes (logged out, flooding, not reading): say why, then close."""
        reason = closecodes.REASONS.get(code, "Closed")
        await self.refuse(StompError(reason.lower().replace(" ", "_"), reason), code)

    async def from_chat(self, text: str) -> None:
        """Translate one frame of the chat protocol for this connection's STOMP subscriptions."""
        if self.closing:
            return
        frame = _decode(text)
        kind = frame.get("type")
        if kind == "message":
            await self.room_message(text, frame["room"], frame["seq"], frame, change=None)
        elif kind == "message.changed":
            await self.room_message(
                text, frame["room"], frame["seq"], frame["message"], change=frame["change"]
            )
        elif kind == "subscribed":
            await self.subscribed(frame)
        elif kind == "message.ack":
            receipt = self.receipts.pop(f"send:{frame['client_msg_id']}", None)
            if receipt:
                await self.send_frame("RECEIPT", {"receipt-id": receipt})
        elif kind == "notification":
            await self.notification(frame)
        elif kind == "presence":
            await self.announce(frame)
        elif kind == "error":
            ref = frame.get("ref")
            receipt = self.receipts.pop(ref, None) if isinstance(ref, str) else None
            await self.refuse(StompError(frame["code"], frame["detail"], receipt=receipt))
        elif kind == "unsubscribed" and frame.get("reason"):
            await self.refuse(StompError(frame["reason"], f"You may no longer read {frame['room']!r}."))
        # history (a subscribe without since: a broker replays nothing), typing, rooms, room.*,
        # unsubscribed answers and pong have no STOMP counterpart.

    async def subscribed(self, frame: dict[str, Any]) -> None:
        pending = self.pending_subscribes.get(frame["room"])
        if not pending:
            return
        item = pending.popleft()
        if not pending:
            del self.pending_subscribes[frame["room"]]
        recovered = item.since is not None and frame.get("recovered", False)
        item.subscription.seq = item.since if recovered else frame["last_seq"]
        self.receipts.pop(f"sub:{item.subscription.id}", None)
        if item.receipt:
            await self.send_frame("RECEIPT", {"receipt-id": item.receipt})

    async def room_message(
        self, text: str, slug: str, seq: int, message: dict[str, Any], *, change: str | None
    ) -> None:
        for subscription in self.room_subscriptions.get(slug, ()):
            if subscription.seq is None or seq <= subscription.seq:
                continue  # not started yet, or already sent on this subscription
            subscription.seq = seq
            cached = _last_decoded[0] is text
            frame_key = (
                subscription.layout,
                subscription.destination,
                subscription.id,
                subscription.ack,
                self.version,
            )
            frame = _last_frames.get(frame_key) if cached else None
            if frame is None:
                body = _last_bodies.get(subscription.layout) if cached else None
                if body is None:
                    fields = destinations.message_body(subscription.layout, message, slug=slug)
                    if change is not None:
                        fields.update(type="UPDATE", change=change, seq=seq)
                    body = _json(fields)
                    if cached:
                        _last_bodies[subscription.layout] = body
                frame = self.message_frame(subscription, f"{slug}-{seq}", body, {"seq": str(seq)})
                if cached:
                    _last_frames[frame_key] = frame
            await self.connection.send(frame)

    async def deliver(
        self, subscription: StompSubscription, message_id: str, body: bytes, extra: dict[str, str]
    ) -> None:
        await self.connection.send(self.message_frame(subscription, message_id, body, extra))

    def message_frame(
        self, subscription: StompSubscription, message_id: str, body: bytes, extra: dict[str, str]
    ) -> str:
        """A MESSAGE frame on this subscription, as text."""
        headers = {
            "destination": subscription.destination,
            "subscription": subscription.id,
            "message-id": message_id,
            "content-type": "application/json",
            **extra,
        }
        if subscription.ack != "auto" and self.version == "1.2":
            headers["ack"] = message_id
        return encode("MESSAGE", headers, body, version=self.version).decode("utf-8")

    async def notification(self, frame: dict[str, Any]) -> None:
        body = _json({key: frame.get(key) for key in ("kind", "room", "seq", "from", "body")})
        for subscription in self.notification_subscriptions:
            self.message_counter += 1
            await self.deliver(subscription, f"n-{self.message_counter}", body, {})

    async def announce(self, frame: dict[str, Any]) -> None:
        """`presence` changes as ENTER/QUIT (JOIN/LEAVE) messages, never stored."""
        slug = frame["room"]
        for subscription in self.room_subscriptions.get(slug, ()):
            if subscription.seq is None:
                continue
            for username, joined in [
                *((u, True) for u in frame["joined"]),
                *((u, False) for u in frame["left"]),
            ]:
                body = destinations.announcement_body(
                    subscription.layout, slug=slug, username=username, joined=joined
                )
                self.message_counter += 1
                await self.deliver(subscription, f"p-{self.message_counter}", _json(body), {})
