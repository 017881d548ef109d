"""Coalescing of `read` frames: a node writes the read positions its connections report at most
once per CHAT_READ_FLUSH_INTERVAL, all in one statement.

A reader in a busy room reports a new position every time a message scrolls into view; writing each
one would make every reader a writer. The buffer keeps, per (user, room), only the highest seq
reported since the last flush, so N reads of one user in one room within an interval are one row of
one statement, and all users of the node share that statement. The buffer is per process (and per
event loop) by design, like the send queue (batching.py): it only holds this node's own frames, and
what is pending when a node dies (at most one interval of reads) is lost: positions only ever move
forward, and the client reports again as it reads on.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import reads
from chat.realtime.loops import PerLoop

logger = logging.getLogger(__name__)


class _ReadBuffer:
    def __init__(self) -> None:
        self.pending: dict[tuple[int, int], int] = {}
        self.scheduled = False
        self.task: asyncio.Task | None = None  # the flush running (held: the loop keeps weak refs)

    def add(self, user_id: int, room_id: int, seq: int) -> None:
        key = (user_id, room_id)
        if seq > self.pending.get(key, 0):
            self.pending[key] = seq
        if not self.scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self.scheduled = True
        loop = asyncio.get_running_loop()
        loop.call_later(settings.CHAT_READ_FLUSH_INTERVAL, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.task = loop.create_task(self._flush())

    async def _flush(self) -> None:
        batch, self.pending = self.pending, {}
        try:
            await database_sync_to_async(reads.read_positions_store)(positions=batch)
        except Exception as exc:  # the database: keep the positions for the next flush
            logger.warning("storing %d read positions failed (%r); retrying", len(batch), exc)
            for (user_id, room_id), seq in batch.items():
                self.pending[(user_id, room_id)] = max(seq, self.pending.get((user_id, room_id), 0))
        finally:
            self.scheduled = False
            if self.pending:  # reads that came during the flush, or a failed one's
                self._schedule()


_buffers = PerLoop(_ReadBuffer)


def read_record(*, user_id: int, room_id: int, seq: int) -> None:
    """Note that a user read a room up to `seq` (access already checked); stored by the next flush."""
    _buffers.get().add(user_id, room_id, seq)
