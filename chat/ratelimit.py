"""Per-user rate limits kept in Redis, so one limit holds across every node."""

import logging
import time

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.sentinel import Sentinel

from chat.loops import PerLoop

logger = logging.getLogger(__name__)

# One client (connection pool) per event loop: redis.asyncio connections belong to a loop.
_clients = PerLoop(lambda: _connect(settings.REDIS))


def redis_client() -> aioredis.Redis:
    """This event loop's Redis client for small commands (short timeouts: it must never hang a socket)."""
    return _clients.get()


# redis-py 8's pools raise MaxConnectionsError at once beyond 100 connections; a burst of sends
# (each checks its rate limit) went past that and skipped the limit. A pool that waits for a free
# connection (at most as long as a command may take) keeps every check.
POOL_SIZE = 64


def _connect(config) -> aioredis.Redis:
    timeouts = {"socket_timeout": 2, "socket_connect_timeout": 2, "health_check_interval": 15}
    if config.is_sentinel:
        sentinel = Sentinel(list(config.sentinels), socket_timeout=2, socket_connect_timeout=2)
        return sentinel.master_for(
            config.master,
            db=config.db,
            username=config.username,
            password=config.password,
            max_connections=1024,  # redis-py has no waiting pool for Sentinel
            **timeouts,
        )
    pool = aioredis.BlockingConnectionPool.from_url(
        config.urls[0], max_connections=POOL_SIZE, timeout=2, **timeouts
    )
    return aioredis.Redis(connection_pool=pool)


async def allow_message(user_id: int) -> bool:
    """Count one message against the user's fixed-window limit; False when over it.

    When Redis cannot be reached the message is allowed (and logged): refusing every
    message during an outage would hurt more than a short window without a limit.
    """
    window = settings.CHAT_RATE_LIMIT_WINDOW
    key = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:rl:msg:{user_id}:{int(time.time() // window)}"
    try:
        async with redis_client().pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, window + 1)
            count, _ = await pipe.execute()
    except Exception as exc:  # redis errors and timeouts alike
        logger.warning("rate limit check failed (%r); allowing the message", exc)
        return True
    return count <= settings.CHAT_RATE_LIMIT_MESSAGES
