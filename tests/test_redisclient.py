"""The Redis client for small commands (chat/redisclient.py) on a real Valkey."""

import asyncio
import time

import pytest

from chat.realtime.redisclient import POOL_SIZE, redis_client

pytestmark = pytest.mark.asyncio


async def test_a_burst_wider_than_the_connection_pool_waits_instead_of_failing():
    """Regression: past redis-py's 100 pooled connections a command failed at once (a burst of
    rate-limit checks, when they were kept in Redis, was waved through)."""
    key = f"test:burst:{time.time()}"
    counts = await asyncio.gather(*(redis_client().incr(key) for _ in range(3 * POOL_SIZE + 100)))
    assert sorted(counts) == list(range(1, 3 * POOL_SIZE + 101))
    await redis_client().delete(key)
