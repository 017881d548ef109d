"""Frames for many users in one publish: each node hands each frame to its own connections of that
user (their user group, locally).

A node's read-position flush (chat/domain/reads.py) moves up to hundreds of users' positions at once,
and each user's connections on every node get a `read.updated`. One publish per user was one Redis
PUBLISH, one message received and decoded per node, per read: in the many-rooms benchmark (200
readers reporting once a second) that doubled the 99th percentile of message delivery
(docs/benchmarks.md, "Read positions"). Here the flush is one publish to USERS_BATCH_GROUP, whose
only member on each node is this module's receiver; it delivers each frame to the local members of
`groups.user_group(user_id)` without Redis (a dictionary look-up for a user with no connection here).
Every node receives every batch, so a batch costs each node a look-up per frame: cheaper than a
publish per frame while nodes are few next to the frames of a flush (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer

from chat.realtime import events, groups
from chat.realtime.loops import PerLoop

USERS_BATCH_GROUP = "chat.users-batch"


def publish(event_type: str, frames: list[tuple[int, str]]) -> None:
    """After commit, from any thread: deliver each (user id, encoded frame) to that user's connections
    on every node, as the channel-layer event `event_type` ({"type", "text"}); one publish for all."""
    if frames:
        events.publish(USERS_BATCH_GROUP, {"type": "chat.users_batch", "event": event_type, "frames": frames})


class _NodeReceiver:
    """This process's member of USERS_BATCH_GROUP (joined when its first connection opens)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.joining: asyncio.Task | None = None

    async def ensure_joined(self) -> None:
        if self.channel is None:
            self.channel = self.layer.new_local_channel("users-batch.")
            self.layer.receive_directly(self.channel, self._handle)
        if self.joining is None or (self.joining.done() and self.joining.exception() is not None):
            # The first connection joins for all; one that finds a failed join (Redis down) retries.
            self.joining = asyncio.ensure_future(self.layer.group_add(USERS_BATCH_GROUP, self.channel))
        await asyncio.shield(self.joining)

    async def _handle(self, batch: dict[str, Any]) -> None:
        event_type = batch["event"]
        for user_id, text in batch["frames"]:
            await self.layer.group_send_local(groups.user_group(user_id), {"type": event_type, "text": text})


_receivers = PerLoop(_NodeReceiver)


async def ensure_receiving() -> None:
    """Make sure this process receives user batches (called as each connection opens: cheap after
    the first)."""
    await _receivers.get().ensure_joined()
