"""Counters in Redis, shared by every node. Failure counters: a key's failures count until `window`
seconds pass without one (as the login throttle's do). Rate counters: uses per fixed window (searches
per user). Keys are digests, never raw client text."""

import hashlib

from chat.realtime.redisclient import redis_client


def _key(scope: str, value: str, kind: str = "failures") -> str:
    return f"chat:{kind}:{scope}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


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


async def rate_hit(*, scope: str, value: str, limit: int, window: int) -> int | None:
    """Count one use of `value` in its current window of `window` seconds (fixed windows: the first
    use starts one); None if it is within `limit`, else the seconds until the window ends. A refused
    use counts too, so hammering does not shorten the wait."""
    key = _key(scope, value, "rate")
    async with redis_client().pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window, nx=True)  # SET NX EX: Redis 2.6.12 and later, unlike EXPIRE NX
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
    return None if count <= limit else max(int(ttl), 1)
