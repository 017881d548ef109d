"""Waiting in tests: for a condition, never for a fixed time.

A test that sleeps "long enough" for something to happen fails on a loaded machine and wastes
time on an idle one. Wait for the thing itself with `wait_until` (or `wait_until_sync` in
synchronous tests); the timeout is generous because the machine may be busy, and only bounds
how long a failing test takes. Sleep only where time passing is what the test is about (a
rate-limit window, a heartbeat), with the wait derived from the setting and a comment saying so.
To show that something does *not* happen, send a marker after it and read up to the marker
(a room's messages arrive in seq order; one process's group sends reach a connection in order):
nothing else may come before it.
"""

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

# Seconds before a wait gives up: far above any healthy wait, even on a loaded machine.
TIMEOUT = 30.0
# Seconds between two checks of the condition.
INTERVAL = 0.05


async def wait_until(
    predicate: Callable[[], Any],
    what: str | Callable[[], str] | None = None,
    *,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
) -> Any:
    """Call predicate() (sync or async) until it returns something truthy, and return that.

    On timeout, raise AssertionError saying that `what` did not happen (a string, or a function
    returning one, called then, to show the state at that moment).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(_failure(predicate, what, timeout))
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], Any],
    what: str | Callable[[], str] | None = None,
    *,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
) -> Any:
    """`wait_until` for synchronous tests (predicate is a plain function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_failure(predicate, what, timeout))
        time.sleep(interval)


def _failure(predicate: Callable[[], Any], what: str | Callable[[], str] | None, timeout: float) -> str:
    if callable(what):
        what = what()
    if what is None:
        try:
            what = "`" + inspect.getsource(predicate).strip() + "`"
        except (OSError, TypeError):
            what = repr(predicate)
    return f"waited {timeout:g} s, but this did not happen: {what}"
