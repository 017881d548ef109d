"""The channel layer: channels-redis' pub/sub layer, plus local delivery for the repair loop.

Why the pub/sub layer: group membership is kept by each node (one Redis subscription
per group per node, fanned out locally), so it survives a Redis restart (redis-py
re-subscribes on reconnect) and has no group expiry, unlike the list-based
RedisChannelLayer, which loses memberships when Redis restarts empty.
"""

import asyncio
import logging
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


class ClusterShardConnection(RedisSingleShardConnection):
    """One Redis connection for pub/sub; an outage is one warning, not a traceback a second."""

    async def _do_receiving(self) -> None:
        down = False
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if down:
                        logger.warning("Redis pub/sub connection restored")
                        down = False
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if not down:
                    logger.warning("Redis pub/sub connection lost (%r); retrying every second", exc)
                    down = True
                await asyncio.sleep(1)
            except Exception:
                logger.exception("Unexpected exception in the pub/sub receive task")
                await asyncio.sleep(1)


class ClusterLoopLayer(RedisPubSubLoopLayer):
    """Per-event-loop layer that can also deliver to this process's members of a group."""

    def __init__(self, hosts=None, **kwargs: Any) -> None:
        super().__init__(hosts=hosts, **kwargs)
        self._shards = [ClusterShardConnection(host, self) for host in decode_hosts(hosts)]

    def local_groups(self) -> list[str]:
        """Names of the groups that have members in this process."""
        marker = f"{self.prefix}__group__"
        return [name[len(marker) :] for name in self.groups if name.startswith(marker)]

    def backlog(self, channel: str) -> int:
        """Messages waiting for this process's consumer of a channel (0 if unknown)."""
        queue = self.channels.get(channel)
        return queue.qsize() if queue is not None else 0

    async def group_send_local(self, group: str, message: dict[str, Any]) -> None:
        """Deliver to this process's members of a group only, without Redis."""
        data = self.channel_layer.serialize(message)
        for channel in self.groups.get(self._get_group_channel_name(group), ()):
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(data)


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
