"""The Redis client for small commands (presence, SockJS session owners, health checks)."""

import functools

import hiredis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection

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


class _HiredisPacking:
    """Commands packed by hiredis (C), as redis-py's synchronous client does when hiredis is
    installed, instead of redis.asyncio's Python packer, which joins a growing buffer once per
    argument: a presence heartbeat's ZADDs (15,000 members at 15,000 sockets) and poll scripts
    spent more time being packed than in Redis. The arguments are encoded by redis-py's own encoder
    first, so what goes on the wire is byte for byte the same (tests/test_redisclient.py checks)."""

    def pack_command(self, *args):
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        encode = self.encoder.encode
        return [hiredis.pack_command(tuple(_as_bytes(encode(arg)) for arg in args))]


def _as_bytes(value):
    # redis-py passes views through as they are; hiredis takes bytes (as redis-py's HiredisRespSerializer).
    return bytes(value) if isinstance(value, (memoryview, bytearray)) else value


@functools.cache
def packed(connection_class: type) -> type:
    """`connection_class` with commands packed by hiredis."""
    return type(f"Packed{connection_class.__name__}", (_HiredisPacking, connection_class), {})


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
            connection_class=packed(SentinelManagedConnection),
            **timeouts,
        )
    pool = aioredis.BlockingConnectionPool.from_url(
        config.urls[0], max_connections=POOL_SIZE, timeout=2, **timeouts
    )
    pool.connection_class = packed(pool.connection_class)  # the URL's class (TCP, TLS or a Unix socket)
    return aioredis.Redis(connection_pool=pool)
