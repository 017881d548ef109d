"""Group commit for sends: concurrent `message.send`s of this process share one transaction.

While one batch is being written, new sends queue; the next batch takes them all (up to
MAX_BATCH). Under light load a batch holds one send, so latency is unchanged; under heavy load
the database sees one commit (and one thread hop) per batch instead of one per message. A send
is still acked only after its batch committed. The queue is per process (and per event loop)
by design: it only collects this process's own sends.
"""

import asyncio
import threading
from collections.abc import Awaitable

from channels.db import database_sync_to_async

from chat import services
from chat.loops import PerLoop
from chat.models import Message

MAX_BATCH = 200
# How long the database thread, inside the batch's transaction, waits for the admission verdicts.
VERDICT_WAIT = 0.05


# A send waiting in the queue: its request, the future its sender awaits, its admission check.
Queued = tuple[services.MessageRequest, asyncio.Future, Awaitable[bool]]


class NotAdmitted(Exception):
    """The send's admission check (the rate limit) said no: nothing was stored."""


class _SendQueue:
    def __init__(self) -> None:
        self.pending: list[Queued] = []
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
                await self._write(queued)
        finally:
            self.draining = False

    async def _write(self, queued: list[Queued]) -> None:
        # The admission checks (rate limit) started when the sends arrived; the database thread
        # writes the batch meanwhile and asks for their verdicts just before it commits (they are
        # usually in by then). If one refused its send, or they are late, the batch is rolled back
        # and the admitted sends are written again once every verdict is known.
        verdicts = Verdicts(asyncio.gather(*(admitted for _, _, admitted in queued), return_exceptions=True))
        requests = [request for request, _, _ in queued]
        try:
            results = await database_sync_to_async(services.messages_create_batch)(
                requests, admitted=verdicts.wait
            )
            if results is None:
                admitted = await verdicts.known
                for (_, future, _), allowed in zip(queued, admitted, strict=True):
                    if not allowed and not future.done():
                        future.set_exception(NotAdmitted())
                queued = [entry for entry, allowed in zip(queued, admitted, strict=True) if allowed]
                if not queued:
                    return
                results = await database_sync_to_async(services.messages_create_batch)(
                    [request for request, _, _ in queued]
                )
        except Exception as exc:  # the whole batch failed; each sender gets the error
            results = [exc] * len(queued)
        for (_, future, _), result in zip(queued, results, strict=True):
            if future.done():
                continue  # the sender's connection went away meanwhile
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class Verdicts:
    """A batch's admission verdicts, awaited on the event loop or waited for on the database thread.

    A check that failed (an exception) admits its send, as the rate limit does when Redis is away.
    """

    def __init__(self, checks: asyncio.Future) -> None:
        self.known = asyncio.get_running_loop().create_future()
        self._ready = threading.Event()
        self._admitted: list[bool] = []
        checks.add_done_callback(self._settle)

    def _settle(self, checks: asyncio.Future) -> None:
        if checks.cancelled():  # the server is shutting down: admit nothing
            self.known.cancel()
        else:
            self._admitted = [verdict is not False for verdict in checks.result()]
            self.known.set_result(self._admitted)
        self._ready.set()

    def wait(self) -> list[bool] | None:
        """On the database thread: the verdicts, or None if they are not in within VERDICT_WAIT
        (a slow Redis must not keep the database's write lock held)."""
        return self._admitted if self._ready.wait(VERDICT_WAIT) else None


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
