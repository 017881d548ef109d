"""The Redis client for small commands (presence, SockJS session owners, health checks)."""

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.sentinel import Sentinel

from chat.realtime.loops import PerLoop

# One client (connection pool) per event loop: redis.asyncio connections belong to a loop.
_clients = PerLoop(lambda: _connect(settings.REDIS))


def redis_client() -> aioredis.Redis:
    """This event loop's Redis client for small commands (short timeouts: it must never hang a socket)."""
    return _clients.get()


# redis-py 8's pools raise MaxConnectionsError at once beyond 100 connections (a burst of small
# commands, such as presence joins in a reconnect storm, would fail). A pool that waits for a free
# connection (at most as long as a command may take) makes a burst wait, not fail.
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
