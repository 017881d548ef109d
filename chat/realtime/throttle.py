"""Failure counters in Redis, shared by every node: a key's failures count until `window` seconds
pass without one (as the login throttle's do). Keys are digests, never raw client text."""

import hashlib

from chat.realtime.redisclient import redis_client


def _key(scope: str, value: str) -> str:
    return f"chat:failures:{scope}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


async def failures_exceeded(*, scope: str, value: str, limit: int) -> bool:
    """Whether `value` has failed `limit` times or more (in the current window)."""
    count = await redis_client().get(_key(scope, value))
    return count is not None and int(count) >= limit


async def failure_record(*, scope: str, value: str, window: int) -> None:
    """Count one failure of `value`; the count expires `window` seconds after the latest."""
    key = _key(scope, value)
    async with redis_client().pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window)
        await pipe.execute()
