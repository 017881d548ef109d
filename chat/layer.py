"""The channel layer: channels-redis' pub/sub layer, plus local delivery for the repair loop.

Why the pub/sub layer: group membership is kept by each node (one Redis subscription
per group per node, fanned out locally), so it survives a Redis restart (redis-py
re-subscribes on reconnect) and has no group expiry, unlike the list-based
RedisChannelLayer, which loses memberships when Redis restarts empty.
"""

import asyncio
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close


class ClusterLoopLayer(RedisPubSubLoopLayer):
    """Per-event-loop layer that can also deliver to this process's members of a group."""

    def local_groups(self) -> list[str]:
        """Names of the groups that have members in this process."""
        marker = f"{self.prefix}__group__"
        return [name[len(marker) :] for name in self.groups if name.startswith(marker)]

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
