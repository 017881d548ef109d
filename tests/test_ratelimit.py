"""The per-user rate limit (chat/ratelimit.py) on a real Valkey."""

import asyncio
import time

import pytest

from chat import ratelimit

pytestmark = pytest.mark.asyncio


async def test_a_burst_wider_than_the_connection_pool_is_counted_not_waved_through(settings):
    """Regression: past redis-py's 100 pooled connections a check failed and allowed the message."""
    settings.CHAT_RATE_LIMIT_MESSAGES = 50
    settings.CHAT_RATE_LIMIT_WINDOW = 60
    if time.time() % 60 > 50:  # stay inside one fixed window
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    user_id = int(time.time() * 1000) % 1_000_000_000
    allowed = await asyncio.gather(*(ratelimit.allow_message(user_id) for _ in range(300)))
    assert allowed.count(True) == 50
