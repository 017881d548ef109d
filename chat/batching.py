"""Group commit for sends: concurrent `message.send`s of this process share one transaction.

While one batch is being written, new sends queue; the next batch takes them all (up to
MAX_BATCH). Under light load a batch holds one send, so latency is unchanged; under heavy load
the database sees one commit (and one thread hop) per batch instead of one per message. A send
is still acked only after its batch committed. The queue is per process (and per event loop)
by design: it only collects this process's own sends.
"""

import asyncio
from collections.abc import Awaitable

from channels.db import database_sync_to_async

from chat import services
from chat.loops import PerLoop
from chat.models import Message

MAX_BATCH = 200


class NotAdmitted(Exception):
    """The send's admission check (the rate limit) said no: nothing was stored."""


class _SendQueue:
    def __init__(self) -> None:
        self.pending: list[tuple[services.MessageRequest, asyncio.Future, Awaitable[bool]]] = []
        self.draining = False

    async def submit(
        self, request: services.MessageRequest, admitted: Awaitable[bool]
    ) -> tuple[Message, bool]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((request, future, admitted))
        if not self.draining:
            self.draining = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                queued, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                # The checks ran while these sends waited for the batch before them. A check that
                # failed admits its send, as the rate limit does when Redis is away.
                verdicts = await asyncio.gather(
                    *(admitted for _, _, admitted in queued), return_exceptions=True
                )
                batch = []
                for (request, future, _), verdict in zip(queued, verdicts, strict=True):
                    if verdict is not False:
                        batch.append((request, future))
                    elif not future.done():
                        future.set_exception(NotAdmitted())
                if not batch:
                    continue
                try:
                    results = await database_sync_to_async(services.messages_create_batch)(
                        [request for request, _ in batch]
                    )
                except Exception as exc:  # the whole batch failed; each sender gets the error
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue  # the sender's connection went away meanwhile
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.draining = False


_queues = PerLoop(_SendQueue)


async def store_message(
    request: services.MessageRequest, *, admitted: Awaitable[bool] | None = None
) -> tuple[Message, bool]:
    """Store one send through this process's group-commit queue; returns (message, created).

    `admitted` (the rate-limit check, already started) is awaited by the queue just before the
    send's batch is written, so its round trip overlaps the wait for the batch ahead; if it says
    no, NotAdmitted is raised and nothing is stored.
    """
    return await _queues.get().submit(request, admitted if admitted is not None else _admit())


async def _admit() -> bool:
    return True
