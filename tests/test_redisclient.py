"""The Redis client for small commands (chat/realtime/redisclient.py) on a real Valkey: a burst wider than
its pool waits, and its commands are packed by hiredis, byte for byte as redis-py's own packer packs them."""

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from redis.asyncio.sentinel import SentinelManagedConnection

from chat.realtime.redisclient import POOL_SIZE, packed, redis_client


@pytest.mark.asyncio
async def test_a_burst_wider_than_the_connection_pool_waits_instead_of_failing():
    """Regression: past redis-py's 100 pooled connections a command failed at once (a burst of
    rate-limit checks, when they were kept in Redis, was waved through)."""
    key = f"test:burst:{time.time()}"
    counts = await asyncio.gather(*(redis_client().incr(key) for _ in range(3 * POOL_SIZE + 100)))
    assert sorted(counts) == list(range(1, 3 * POOL_SIZE + 101))
    await redis_client().delete(key)


COMMANDS = [
    ("SET", "key", "välue 한국어", b"\x00\xff\r\n", 12, 3.25, -7, 10**20),
    ("ZADD", "chat:presence:1", b"1700000000.5", b"1:alice:c1", 1700000000.123456789, "2:bob:c2"),
    ("CLIENT SETNAME", "node-1"),  # a command of two words, as redis-py sends some
    (b"CONFIG GET", "maxmemory"),
    ("EVALSHA", "abc", 2, "k1", "k2", "", "x" * 7000, memoryview(b"view"), bytearray(b"array")),
]


@pytest.mark.parametrize(
    "base", [aioredis.Connection, aioredis.UnixDomainSocketConnection, SentinelManagedConnection]
)
@pytest.mark.parametrize("command", COMMANDS, ids=[str(c[0]) for c in COMMANDS])
def test_hiredis_packs_every_command_as_redis_py_does(base, command):
    kwargs = {"connection_pool": None} if base is SentinelManagedConnection else {}
    ours, theirs = packed(base)(**kwargs), base(**kwargs)
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))
    pipeline = [command, ("PING",)]
    assert b"".join(ours.pack_commands(pipeline)) == b"".join(theirs.pack_commands(pipeline))


@pytest.mark.asyncio
async def test_the_client_s_connections_are_packed_and_talk_to_redis():
    client = redis_client()
    assert isinstance(client.connection_pool.connection_class, type)
    assert client.connection_pool.connection_class.__name__.startswith("Packed")
    await client.zadd("test:packed", {"한국어:member": 1.5, b"\x00raw": 2})
    assert await client.zrange("test:packed", 0, -1, withscores=True) == [
        ("한국어:member".encode(), 1.5),
        (b"\x00raw", 2.0),
    ]
    await client.delete("test:packed")
