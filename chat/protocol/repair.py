"""The per-node repair loop: what the database holds reaches subscribers even if a broadcast is lost.

Live delivery over the channel layer is at-most-once: a publish fails while Redis is
down, a node can die between commit and publish, and a subscription can race a write
on another node. Each node therefore checks, every CHAT_REPAIR_INTERVAL seconds, the
`last_seq` of the rooms its connections are subscribed to (one query for all of them)
and tells its local subscribers the newest seq that has been committed for at least one
interval. A connection that is behind fills the gap from the database (chat/protocol.py).

The loop is per process by design: it serves this process's connections only.
"""

import asyncio
import logging
import weakref

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat.domain import selectors
from chat.realtime import groups

logger = logging.getLogger(__name__)


_tasks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def ensure_repair_loop() -> None:
    """Start this event loop's repair loop if it is not running."""
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(_repair_forever(), name="chat-repair-loop")


def _local_room_ids(layer) -> list[int]:
    return [room_id for room_id in map(groups.room_id_of, layer.local_groups()) if room_id is not None]


async def _repair_forever() -> None:
    layer = get_channel_layer()
    announced: dict[int, int] = {}
    seen_last_tick: dict[int, int] = {}
    while True:
        await asyncio.sleep(settings.CHAT_REPAIR_INTERVAL)
        try:
            room_ids = _local_room_ids(layer)
            now = (
                await database_sync_to_async(selectors.room_last_seqs)(room_ids=room_ids) if room_ids else {}
            )
            # Announce only what was already committed a tick ago: live broadcasts of
            # newer messages are most likely still in flight.
            for room_id, last_seq in seen_last_tick.items():
                if room_id in now and last_seq > announced.get(room_id, 0):
                    await layer.group_send_local(
                        groups.room_group(room_id),
                        {"type": "chat.room_head", "room_id": room_id, "last_seq": last_seq},
                    )
                    announced[room_id] = last_seq
            announced = {room_id: seq for room_id, seq in announced.items() if room_id in now}
            seen_last_tick = now
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be briefly unreachable; try next tick
            logger.warning("repair loop tick failed: %r", exc)
