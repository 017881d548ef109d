"""The channel layer: channels-redis' pub/sub layer, plus local delivery for the repair loop
and direct delivery of group messages to consumers.

Why the pub/sub layer: group membership is kept by each node (one Redis subscription
per group per node, fanned out locally), so it survives a Redis restart (the node
re-subscribes on reconnect, below) and has no group expiry, unlike the list-based
RedisChannelLayer, which loses memberships when Redis restarts empty.

Direct delivery: channels-redis puts a group message, still serialized, into the queue of each
member channel, and each consumer's receive loop (channels' await_many_dispatch) then wakes up
through a new task and asyncio.wait(), and deserializes its own copy. For a room of 100 members
on a node that is 100 tasks and 100 msgpack decodes per message. A consumer that registers a
handler for its channel (`receive_directly`) instead gets the message decoded once per node and
handed to it in order by one dispatcher task per node: the consumer still joins and leaves groups
on this layer; only the last step of the delivery changes.

Local first: a group_send is handed to this process's own members of the group at once, and
published to Redis for the other nodes; the copy Redis sends back to this process (it is
subscribed to the group too) is recognised by its origin mark and skipped. The sender's node so
saves a Redis round trip per message before its members see it, and its members still get it
when Redis is away.
"""

import asyncio
import collections
import contextlib
import contextvars
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)


REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)

# The key of a group message that names the per-loop layer which sent it (module docstring).
ORIGIN = "__origin"

# Deliveries the dispatcher makes in a row before it lets other ready tasks run.
DISPATCH_SLICE = 32


class ClusterShardConnection(RedisSingleShardConnection):
    """One Redis connection for pub/sub that rides out Redis outages.

    `_subscribed_to` is what this node wants to receive. A subscribe while Redis is down is
    recorded and made when Redis is back, instead of failing the consumer; after any
    reconnect the wanted and actual subscriptions are reconciled. An outage is logged as
    one warning, not a traceback a second.
    """

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self._subscribed_to:
                return
            self._ensure_redis()
            self._ensure_receiver()
            self._subscribed_to.add(channel)
            try:
                await self._pubsub.subscribe(channel)
            except REDIS_DOWN as exc:
                logger.warning("Redis down (%r); subscription to %s waits for it", exc, channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self._subscribed_to:
                return
            self._subscribed_to.discard(channel)
            with contextlib.suppress(*REDIS_DOWN):  # reconciled after the reconnect
                await self._pubsub.unsubscribe(channel)

    async def _reconnect_and_reconcile(self) -> None:
        """Reconnect, then make Redis' subscriptions match the wanted ones.

        Under the lock: a subscribe() in flight has not yet recorded its channel in the
        PubSub, which then looks unsubscribed; a ping() at that moment would open a second
        connection and the first subscription would be read by nobody.
        """
        async with self._lock:
            await self._pubsub.ping()  # reconnects; redis-py re-subscribes what it knew
            actual = {name.decode() if isinstance(name, bytes) else name for name in self._pubsub.channels}
            missing = self._subscribed_to - actual
            extra = actual - self._subscribed_to
            if missing:
                await self._pubsub.subscribe(*missing)
            if extra:
                await self._pubsub.unsubscribe(*extra)

    def _receive_message(self, message) -> None:
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        if name in self.channel_layer.channels:
            self.channel_layer.channels[name].put_nowait(message["data"])
        elif name in self.channel_layer.groups:
            self.channel_layer.fan_out(name, message["data"])

    async def _do_receiving(self) -> None:
        down = False
        while True:
            try:
                if down or (self._subscribed_to and not self._pubsub.subscribed):
                    await self._reconnect_and_reconcile()
                    if down:
                        logger.warning("Redis pub/sub connection restored")
                    down = False
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except REDIS_DOWN as exc:
                if not down:
                    logger.warning("Redis pub/sub connection lost (%r); retrying every second", exc)
                    down = True
                await asyncio.sleep(1)
            except Exception:
                logger.exception("Unexpected exception in the pub/sub receive task")
                await asyncio.sleep(1)


class DirectReceiver:
    """A consumer's handler for its group messages, called one message at a time, in order.

    The dispatcher calls the handler inline (handling a chat message normally does not suspend).
    While the consumer is busy with something else (`exclusive()`: a client frame that reads the
    database), messages wait in its inbox and are handled, in order, when it is done: the same
    one-thing-at-a-time rule as channels' own receive loop.
    """

    def __init__(self, handle: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.handle = handle
        # Messages that wait while the consumer is busy; made when the first has to wait (a deque is
        # 0.8 kB, held by every idle connection otherwise).
        self.inbox: collections.deque[dict[str, Any]] | None = None
        self.lock = asyncio.Lock()

    async def deliver(self, message: dict[str, Any]) -> None:
        if self.lock.locked() or self.inbox:
            if self.inbox is None:
                self.inbox = collections.deque()
            self.inbox.append(message)
            return
        async with self.lock:  # free, so taken without suspending
            await self._handle(message)

    @contextlib.asynccontextmanager
    async def exclusive(self):
        """Run the consumer's own work with no message handled meanwhile; then catch up."""
        async with self.lock:
            try:
                yield
            finally:
                while self.inbox:
                    await self._handle(self.inbox.popleft())

    async def _handle(self, message: dict[str, Any]) -> None:
        try:
            await self.handle(message)
        except Exception:
            logger.exception("consumer failed on a %r message", message.get("type"))


class _Unread:
    """The queue of a local channel (new_local_channel): its consumer receives directly, so what
    reaches the queue instead (a group message after the consumer stopped receiving, while it leaves
    its groups) is dropped, as a queue that is never read would keep it."""

    __slots__ = ()

    def put_nowait(self, message: Any) -> None:
        pass

    def qsize(self) -> int:
        return 0


_UNREAD = _Unread()


class ClusterLoopLayer(RedisPubSubLoopLayer):
    """Per-event-loop layer that can also deliver to this process's members of a group."""

    def __init__(self, hosts=None, **kwargs: Any) -> None:
        super().__init__(hosts=hosts, **kwargs)
        self._shards = [ClusterShardConnection(host, self) for host in decode_hosts(hosts)]
        self.direct: dict[str, DirectReceiver] = {}
        self._dispatch_queue: collections.deque[tuple[list[DirectReceiver], dict[str, Any]]] = (
            collections.deque()
        )
        self._dispatcher: asyncio.Task | None = None
        self.origin = secrets.token_hex(8)

    # Direct delivery (module docstring) ------------------------------------------------

    def receive_directly(
        self, channel: str, handle: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> DirectReceiver:
        """From now on, group messages for `channel` go to `handle` instead of its queue."""
        receiver = self.direct[channel] = DirectReceiver(handle)
        return receiver

    def stop_receiving_directly(self, channel: str) -> None:
        self.direct.pop(channel, None)

    def new_local_channel(self, prefix: str = "specific.") -> str:
        """A channel name for a consumer whose messages all come from this process: group messages
        by direct delivery, and send_local(). Unlike new_channel(), no Redis subscription (a round
        trip under the shard's lock, per connection, and one more subscription for Redis to hold);
        a send() to it from another process is lost. Give it back with drop_local_channel()."""
        channel = f"{self.prefix}{prefix}{secrets.token_hex(16)}"
        # group_add() requires a channel of this process in self.channels, where channels-redis keeps
        # an asyncio.Queue (3.3 kB per connection) that nobody would read.
        self.channels[channel] = _UNREAD
        return channel

    def drop_local_channel(self, channel: str) -> None:
        self.channels.pop(channel, None)
        self.direct.pop(channel, None)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Hand the message to this process's members of the group, then publish it to Redis for
        the other nodes (local first, module docstring)."""
        group_channel = self._get_group_channel_name(group)
        data = self.channel_layer.serialize({**message, ORIGIN: self.origin})
        members = self.groups.get(group_channel)
        if members:
            self._deliver(members, data, message)
        await self._get_shard(group_channel).publish(group_channel, data)

    def fan_out(self, group_channel: str, data: bytes) -> None:
        """Deliver one serialized group message, received from Redis, to this process's members
        of the group, unless this process sent it (its members had it then)."""
        members = self.groups.get(group_channel)
        if not members:
            return
        message = self.channel_layer.deserialize(data)
        if message.get(ORIGIN) != self.origin:
            self._deliver(members, data, message)

    def _deliver(self, members: Iterable[str], data: bytes, message: dict[str, Any]) -> None:
        receivers = []
        for channel in members:
            receiver = self.direct.get(channel)
            if receiver is not None:
                receivers.append(receiver)
            elif channel in self.channels:
                self.channels[channel].put_nowait(data)
        if receivers:
            self._enqueue(receivers, message)

    def send_local(self, channel: str, message: dict[str, Any]) -> None:
        """Deliver a message to this process's consumer of a channel, without Redis, in turn with
        its other messages (nothing happens if the channel has no consumer here)."""
        receiver = self.direct.get(channel)
        if receiver is not None:
            self._enqueue([receiver], message)
        elif channel in self.channels:
            self.channels[channel].put_nowait(self.channel_layer.serialize(message))

    def _enqueue(self, receivers: list[DirectReceiver], message: dict[str, Any]) -> None:
        self._dispatch_queue.append((receivers, message))
        if self._dispatcher is None:
            # A context of its own: it serves every consumer, and the caller's may be a database
            # thread's (a publish after commit), where asgiref refuses further database calls.
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), context=contextvars.Context()
            )

    async def _dispatch(self) -> None:
        try:
            while self._dispatch_queue:
                receivers, message = self._dispatch_queue.popleft()
                for start in range(0, len(receivers), DISPATCH_SLICE):
                    if start:
                        # Tasks that became ready meanwhile (a sender's ack, other clients' frames)
                        # run between slices of a large room's deliveries, not after all of them.
                        await asyncio.sleep(0)
                    for receiver in receivers[start : start + DISPATCH_SLICE]:
                        await receiver.deliver(message)
        finally:
            self._dispatcher = None

    def local_groups(self) -> list[str]:
        """Names of the groups that have members in this process."""
        marker = f"{self.prefix}__group__"
        return [name[len(marker) :] for name in self.groups if name.startswith(marker)]

    def backlog(self, channel: str) -> int:
        """Messages waiting for this process's consumer of a channel (0 if unknown)."""
        receiver = self.direct.get(channel)
        if receiver is not None:
            return len(receiver.inbox) if receiver.inbox is not None else 0
        queue = self.channels.get(channel)
        return queue.qsize() if queue is not None else 0

    async def drop_channel(self, channel: str) -> None:
        """Forget a channel made by new_channel() that will not be received on (channels-redis
        only does this when a receive() on it is cancelled)."""
        if self.channels.pop(channel, None) is not None:
            await self._get_shard(channel).unsubscribe(channel)

    async def has_receiver(self, channel: str) -> bool:
        """Whether any process is subscribed to this channel (so a send to it can arrive)."""
        shard = self._get_shard(channel)
        shard._ensure_redis()
        [(_, count)] = await shard._redis.pubsub_numsub(channel)
        return count > 0

    async def group_send_local(self, group: str, message: dict[str, Any]) -> None:
        """Deliver to this process's members of a group only, without Redis."""
        members = self.groups.get(self._get_group_channel_name(group))
        if members:
            self._deliver(members, self.channel_layer.serialize(message), message)


class ClusterChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer whose per-loop layers are ClusterLoopLayer."""

    def _get_layer(self) -> ClusterLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = ClusterLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
