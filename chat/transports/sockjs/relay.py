"""SockJS sessions that any node can serve: no sticky sessions.

A session lives on the node that received its first request (its *owner*), as a Session
object with its own channel-layer channel. Redis maps the session id to that channel, so a
request for the session that lands on another node is relayed through the channel layer:
the node holding the HTTP request asks the owner to attach it as the session's receiver
(frames then flow back to the node's reply channel) or to take the messages of an
`xhr_send`. A request that lands on the owner is served directly.

If the owner dies, its sessions die with it: requests for them get `c[1012,...]` (receiving)
or 404 (`xhr_send`) after a short wait, the client opens a new session, and the chat
protocol's `since` brings back whatever was missed (docs/reliability.md).
"""

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer

from chat.realtime.loops import PerLoop
from chat.realtime.redisclient import redis_client
from chat.transports.sockjs import framing
from chat.transports.sockjs.endpoints import Endpoint, endpoint_key
from chat.transports.sockjs.session import LocalReceiver, Receiver, Session

logger = logging.getLogger(__name__)

# The owner refreshes its Redis entry every REFRESH seconds; it expires TTL seconds after the
# owner stopped (a crash), so later requests start a new session instead of waiting on it.
OWNER_TTL = 30
OWNER_REFRESH = 10
# How long a node relaying a request waits for the owner's first answer before it declares
# the session lost.
OWNER_ANSWER_TIMEOUT = 3.0


def _response_limit(endpoint: Endpoint) -> int:
    """The endpoint's limit, less up to a quarter at random for the chat: otherwise every
    subscriber of a room reaches it on the same message and all reopen their streams at once."""
    if not endpoint.chat:
        return endpoint.response_limit  # the conformance suite counts on the exact limit
    return endpoint.response_limit - random.randrange(endpoint.response_limit // 4)


def _owner_key(endpoint: Endpoint, session_id: str) -> str:
    return f"chat:sockjs:{endpoint_key(endpoint)}:{session_id}"


@dataclass(eq=False)
class RemoteReceiver(Receiver):
    """A request held by another node: frames go to that node's reply channel."""

    reply_to: str = ""
    request: str = ""

    async def write(self, frame: str, end: bool) -> None:
        await get_channel_layer().send(
            self.reply_to, {"type": "sockjs.reply", "request": self.request, "frame": frame, "end": end}
        )


# --- a session owned by this node, reachable from every node -------------------------------------


class OwnedSession(Session):
    """A Session that this node owns: Redis maps its id to its channel, so any node can reach it."""

    tick_interval = OWNER_REFRESH

    @property
    def key(self) -> str:
        return _owner_key(self.endpoint, self.session_id)

    async def claim(self) -> bool:
        """Become the session's owner, unless another node just did."""
        layer = get_channel_layer()
        channel = await layer.new_channel("sockjs.session.")
        if not await redis_client().set(self.key, channel, nx=True, ex=OWNER_TTL):
            await layer.drop_channel(channel)
            return False
        self.start(layer, channel)
        self._tasks.append(asyncio.get_running_loop().create_task(self._channel_loop()))
        return True

    async def tick(self) -> None:
        """Keep the Redis entry that routes other nodes here."""
        with contextlib.suppress(Exception):
            await redis_client().set(self.key, self.channel, ex=OWNER_TTL)

    async def receiver_alive(self) -> bool:
        receiver = self.receiver
        if isinstance(receiver, RemoteReceiver) and not await _reachable(receiver.reply_to):
            # The node holding the request died: nobody would ever detach it.
            await self.detach(receiver, aborted=True)
            return False
        return True

    async def _teardown(self) -> None:
        _registry().sessions.pop((endpoint_key(self.endpoint), self.session_id), None)
        with contextlib.suppress(Exception):  # the entry expires by itself if Redis is away
            await redis_client().eval(_DELETE_IF_OURS, 1, self.key, self.channel)
        await super()._teardown()

    async def _channel_loop(self) -> None:
        """Requests relayed by other nodes, and channel-layer events for the handler."""
        layer = get_channel_layer()
        while True:
            message = await layer.receive(self.channel)
            try:
                await self._on_channel_message(message)
            except Exception:
                logger.exception("SockJS session failed on a %r message", message.get("type"))

    async def _on_channel_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "sockjs.attach":
            if not self.allows(message["user"]):
                await _reply(message, status=404)
                return
            await _reply(message, status=200)
            await self.attach(
                RemoteReceiver(
                    polling=message["polling"],
                    overhead=message["overhead"],
                    limit=_response_limit(self.endpoint),
                    reply_to=message["reply_to"],
                    request=message["request"],
                )
            )
        elif kind == "sockjs.detach":
            receiver = self.receiver
            if isinstance(receiver, RemoteReceiver) and receiver.request == message["request"]:
                await self.detach(receiver, aborted=message["aborted"])
        elif kind == "sockjs.send":
            if not self.allows(message["user"]):
                await _reply(message, status=404)
            else:
                messages = [text.decode("utf-8", "surrogatepass") for text in message["messages"]]
                await _reply(message, status=204 if self.take(messages) else 429)
        else:
            self.inbox.put_nowait(message)  # after the client frames before it, never beside them


_DELETE_IF_OURS = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


async def _reachable(channel: str) -> bool:
    try:
        return await get_channel_layer().has_receiver(channel)
    except Exception:  # Redis away: assume the best, the next tick asks again
        return True


async def _reply(message: dict[str, Any], **fields: Any) -> None:
    await get_channel_layer().send(
        message["reply_to"], {"type": "sockjs.reply", "request": message["request"], **fields}
    )


# --- this node: its sessions and its reply channel ------------------------------------------


class _Registry:
    """The sessions this process owns, and the channel where owners answer its relayed requests."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str], OwnedSession] = {}
        self.reply_channel = ""
        self.waiting: dict[str, asyncio.Queue] = {}
        self._ready: asyncio.Lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def mailbox(self) -> str:
        async with self._ready:
            if not self.reply_channel:
                self.reply_channel = await get_channel_layer().new_channel("sockjs.node.")
                self._task = asyncio.get_running_loop().create_task(self._route_replies())
        return self.reply_channel

    async def _route_replies(self) -> None:
        layer = get_channel_layer()
        while True:
            message = await layer.receive(self.reply_channel)
            queue = self.waiting.get(message.get("request", ""))
            if queue is not None:
                queue.put_nowait(message)


_registries = PerLoop(_Registry)


def _registry() -> _Registry:
    return _registries.get()


# --- what the HTTP transports call -------------------------------------------------------------


class Stream:
    """Frames for one receiving request: `next()` gives (frame, end) until end is True."""

    async def next(self) -> tuple[str, bool]:
        raise NotImplementedError

    async def abort(self) -> None:
        """The client went away before the response ended."""

    def done(self) -> None:
        pass


class LocalStream(Stream):
    def __init__(self, session: Session, receiver: LocalReceiver) -> None:
        self.session = session
        self.receiver = receiver

    async def next(self) -> tuple[str, bool]:
        return await self.receiver.queue.get()

    async def abort(self) -> None:
        await self.session.detach(self.receiver, aborted=True)


class RemoteStream(Stream):
    def __init__(self, owner: str, request: str, queue: asyncio.Queue, heartbeat: float) -> None:
        self.owner = owner
        self.request = request
        self.queue = queue
        self.silence_limit = heartbeat + 10  # the owner sends at least a heartbeat this often

    async def next(self) -> tuple[str, bool]:
        try:
            message = await asyncio.wait_for(self.queue.get(), self.silence_limit)
        except TimeoutError:
            return framing.SESSION_LOST, True
        return message["frame"], message["end"]

    async def abort(self) -> None:
        await get_channel_layer().send(
            self.owner, {"type": "sockjs.detach", "request": self.request, "aborted": True}
        )

    def done(self) -> None:
        _registry().waiting.pop(self.request, None)


class FixedStream(Stream):
    """One frame, then the end (a lost session, an unauthenticated chat request)."""

    def __init__(self, frame: str) -> None:
        self.frame = frame

    async def next(self) -> tuple[str, bool]:
        return self.frame, True


async def _ask_owner(owner: str, message: dict[str, Any]) -> tuple[dict[str, Any] | None, str, asyncio.Queue]:
    """Send a request to a session's owner; its first answer (None if it does not answer)."""
    registry = _registry()
    reply_to = await registry.mailbox()
    request = uuid.uuid4().hex
    queue: asyncio.Queue = asyncio.Queue()
    registry.waiting[request] = queue
    await get_channel_layer().send(owner, {**message, "reply_to": reply_to, "request": request})
    try:
        answer = await asyncio.wait_for(queue.get(), OWNER_ANSWER_TIMEOUT)
    except TimeoutError:
        answer = None
    return answer, request, queue


async def receive(
    endpoint: Endpoint,
    session_id: str,
    *,
    user,
    session_key,
    transport: str,
    polling: bool,
    overhead: int,
    meta=None,
) -> Stream | None:
    """Attach a receiving request to its session (made if new); None means 404."""
    registry = _registry()
    user_id = user.pk if user is not None and user.is_authenticated else None
    for _ in range(3):
        session = registry.sessions.get((endpoint_key(endpoint), session_id))
        if session is not None:
            if not session.allows(user_id):
                return None
            receiver = LocalReceiver(polling=polling, overhead=overhead, limit=_response_limit(endpoint))
            await session.attach(receiver)
            return LocalStream(session, receiver)
        owner = await redis_client().get(_owner_key(endpoint, session_id))
        if owner is not None:
            owner = owner.decode()
            answer, request, queue = await _ask_owner(
                owner, {"type": "sockjs.attach", "user": user_id, "polling": polling, "overhead": overhead}
            )
            if answer is None:
                registry.waiting.pop(request, None)
                return FixedStream(framing.SESSION_LOST)
            if answer["status"] == 404:
                registry.waiting.pop(request, None)
                return None
            return RemoteStream(owner, request, queue, endpoint.heartbeat)
        session = OwnedSession(
            endpoint, session_id, user=user, session_key=session_key, transport=transport, meta=meta
        )
        if await session.claim():
            registry.sessions[(endpoint_key(endpoint), session_id)] = session
            receiver = LocalReceiver(polling=polling, overhead=overhead, limit=_response_limit(endpoint))
            await session.attach(receiver)
            return LocalStream(session, receiver)
    return FixedStream(framing.SESSION_LOST)


async def send(endpoint: Endpoint, session_id: str, *, user, messages: list[str]) -> int:
    """Hand an xhr_send's messages to their session; the HTTP status to answer."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    session = _registry().sessions.get((endpoint_key(endpoint), session_id))
    if session is not None:
        if not session.allows(user_id):
            return 404
        return 204 if session.take(messages) else 429
    owner = await redis_client().get(_owner_key(endpoint, session_id))
    if owner is None:
        return 404
    # As bytes: a message may hold a lone surrogate (valid in the JSON of an xhr_send, refused by
    # the chat protocol later), which the channel layer's msgpack cannot encode as a string.
    encoded = [text.encode("utf-8", "surrogatepass") for text in messages]
    answer, request, _ = await _ask_owner(
        owner.decode(), {"type": "sockjs.send", "user": user_id, "messages": encoded}
    )
    _registry().waiting.pop(request, None)
    return 404 if answer is None else answer["status"]


async def close_all(code: int, reason: str) -> None:
    """Close every session this node owns (graceful shutdown)."""
    sessions = list(_registry().sessions.values())
    await asyncio.gather(*(session.close(code, reason) for session in sessions), return_exceptions=True)
