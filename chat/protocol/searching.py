"""Searches as every transport runs them: the `search` and `users.search` frames (/ws/, SockJS) and
`GET /api/search` (chat/web/api.py).

Two rules hold for all of them:

- **A rate per user, across nodes and connections** (chat/realtime/throttle.py, fixed windows in
  Redis): `CHAT_SEARCH_RATE_LIMIT` message searches and `CHAT_USERS_SEARCH_RATE_LIMIT` people
  searches per `CHAT_SEARCH_RATE_WINDOW` seconds; past it, `rate_limited` with `retry_after`.
- **Their own threads**: every other database call of a socket runs on the node's one database
  thread (channels' `database_sync_to_async`), which also stores every send of the node in its group
  commit (chat/domain/batching.py). A search may take up to `CHAT_SEARCH_TIMEOUT_MS` (a common word
  among a million messages on SQLite: seconds), and the node's sends must not wait behind it; so
  searches run on `CHAT_SEARCH_THREADS` threads of their own, each with its own database connection
  (SQLite's WAL lets them read while the database thread writes). A node therefore holds up to that
  many more database connections (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections

from chat.domain import profile_selectors, selectors
from chat.domain.errors import RateLimited
from chat.realtime import throttle

T = TypeVar("T")


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.CHAT_SEARCH_THREADS, thread_name_prefix="chat-search")


def _in_search_thread(function: Callable[..., T], kwargs: dict[str, Any]) -> T:
    # As Django does around a request: drop a connection past CONN_MAX_AGE or left broken.
    close_old_connections()
    try:
        return function(**kwargs)
    finally:
        close_old_connections()


async def _run(function: Callable[..., T], **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(_in_search_thread, function, kwargs))


async def _admit(user, *, scope: str, limit: int, what: str) -> None:
    wait = await throttle.rate_hit(
        scope=scope, value=str(user.pk), limit=limit, window=settings.CHAT_SEARCH_RATE_WINDOW
    )
    if wait is not None:
        raise RateLimited(f"Too many {what}; try again in {wait} s.", retry_after=wait)


async def messages_search(*, user, **filters: Any) -> selectors.SearchPage:
    """selectors.messages_search for `user`, rate-limited, on the search threads."""
    await _admit(user, scope="search", limit=settings.CHAT_SEARCH_RATE_LIMIT, what="searches")
    return await _run(selectors.messages_search, user=user, **filters)


async def users_search(*, user, query: str) -> list[dict[str, Any]]:
    """profile_selectors.users_search, rate-limited per searcher, on the search threads."""
    await _admit(
        user, scope="users-search", limit=settings.CHAT_USERS_SEARCH_RATE_LIMIT, what="people searches"
    )
    return await _run(profile_selectors.users_search, query=query, limit=settings.CHAT_USERS_SEARCH_MAX)
