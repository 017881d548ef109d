"""Group commit for writes: concurrent sends and changes (edits, deletions, reactions) of this
process share one transaction.

While one batch is being written, new writes queue; the next batch takes them all (up to
MAX_BATCH). Under light load a batch holds one write, so latency is unchanged; under heavy load
the database sees one commit (and one thread hop) per batch instead of one per write. A write
is still acked only after its batch committed. The queue is per process (and per event loop)
by design: it only collects this process's own writes.
"""

import asyncio
import logging

from channels.db import database_sync_to_async

from chat.domain import message_changes, services
from chat.domain.errors import ChatError, InternalError
from chat.models import Message, MessageChange
from chat.realtime.loops import PerLoop

MAX_BATCH = 200

logger = logging.getLogger(__name__)


class _SendQueue:
    def __init__(self) -> None:
        self.pending: list[tuple[services.Request, asyncio.Future]] = []
        self.draining = False

    async def submit(self, request: services.Request) -> services.Result:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((request, future))
        if not self.draining:
            self.draining = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    results = await database_sync_to_async(services.messages_create_batch)(
                        [request for request, _ in batch]
                    )
                except Exception as exc:  # the whole batch failed (the database): logged once
                    logger.error("a batch of %d writes failed: %r", len(batch), exc, exc_info=exc)
                    results = [InternalError() for _ in batch]
                for (request, future), result in zip(batch, results, strict=True):
                    if isinstance(result, Exception) and not isinstance(result, ChatError):
                        # This write alone failed (the others of its batch are stored): its
                        # traceback is logged once, here, and the sender gets internal_error.
                        logger.error(
                            "a %s of user %s failed: %r",
                            "change" if isinstance(request, message_changes.ChangeRequest) else "send",
                            services.requester(request).pk,
                            result,
                            exc_info=result,
                        )
                        result = InternalError()
                    if future.done():
                        continue  # the sender's connection went away meanwhile
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.draining = False


_queues = PerLoop(_SendQueue)


async def store_message(request: services.MessageRequest) -> tuple[Message, bool]:
    """Store one send through this process's group-commit queue; returns (message, created), or
    raises the ChatError that refused it (RateLimited among them; InternalError if it failed)."""
    return await _queues.get().submit(request)


async def store_change(request: message_changes.ChangeRequest) -> MessageChange | None:
    """Apply one change through the same queue; returns the change (None if it changed nothing),
    or raises the ChatError that refused it (InternalError if it failed)."""
    return await _queues.get().submit(request)
