"""Connection slots: how many connections each user holds on all nodes together, capped.

Each open connection holds one member of its user's sorted set in Redis (one set per kind of
connection), scored by when it expires. Taking a slot is one script that drops expired members,
counts, and adds the new one only under the cap, so two nodes cannot both hand out the last slot.
Closing the connection gives the slot back at once. Nodes refresh their own connections' entries
every CHAT_PRESENCE_HEARTBEAT seconds, so the slots of a node that dies (kill -9: no disconnect ever
runs) expire within CHAT_PRESENCE_TTL seconds, as presence entries do. Expiry times are Redis'
clock (TIME), so nodes whose clocks disagree cannot expire each other's entries early.

Slots are best effort like presence: if Redis cannot be reached, a connection is let in (the chat
goes on without Redis) and its entry is written by the next refresh. The registry of local slots
below is per process by design: it lists this process's connections, which only it can refresh.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from django.conf import settings

from chat.realtime.loops import PerLoop
from chat.realtime.redisclient import redis_client

logger = logging.getLogger(__name__)

# KEYS[1]: the user's set; ARGV: member, limit, ttl. 1 if the member holds a slot now, else 0.
_ACQUIRE = """
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('EXPIRE', KEYS[1], 2 * ttl)
return 1
"""

# KEYS[1]: a user's set; ARGV: ttl, then this node's members in it. Pushes their expiry forward
# (adding them back if Redis lost them: they are open connections).
_REFRESH = """
local expires = tonumber(redis.call('TIME')[1]) + tonumber(ARGV[1])
for i = 2, #ARGV do
    redis.call('ZADD', KEYS[1], expires, ARGV[i])
end
redis.call('EXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
return 0
"""


KINDS = ("socket", "sockjs")


@dataclass(frozen=True)
class Slot:
    """One connection's slot among its user's connections of one kind."""

    kind: str  # "socket" (WebSocket) or "sockjs" (a SockJS session over HTTP)
    user_id: int
    connection_id: str

    @property
    def key(self) -> str:
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        return f"{prefix}:slots:{self.kind}:{int(self.user_id)}"


@dataclass
class _NodeSlots:
    """This process's slots by key, and the task that refreshes them."""

    local: dict[str, set[str]] = field(default_factory=dict)
    task: asyncio.Task | None = None


_nodes = PerLoop(_NodeSlots)


def _node() -> _NodeSlots:
    node = _nodes.get()
    if node.task is None or node.task.done():
        node.task = asyncio.get_running_loop().create_task(_refresh_forever(node), name="chat-slots")
    return node


async def acquire(slot: Slot, *, limit: int) -> bool:
    """Take a slot for a new connection; False if the user already holds `limit` of this kind."""
    try:
        taken = await redis_client().eval(_ACQUIRE, 1, slot.key, slot.connection_id, limit, _ttl())
    except Exception as exc:  # Redis away: let the connection in; the next refresh records it
        logger.warning("connection slot not checked: %r", exc)
        taken = 1
    if taken:
        _node().local.setdefault(slot.key, set()).add(slot.connection_id)
    return bool(taken)


async def release(slot: Slot) -> None:
    """Give a closed connection's slot back."""
    node = _node()
    members = node.local.get(slot.key)
    if members is not None:
        members.discard(slot.connection_id)
        if not members:
            del node.local[slot.key]
    try:
        await redis_client().zrem(slot.key, slot.connection_id)
    except Exception as exc:  # it expires by itself within the TTL
        logger.warning("connection slot not released: %r", exc)


# KEYS: users' sets; 1 for each that holds an unexpired slot.
_ANY_LIVE = """
local now = tonumber(redis.call('TIME')[1])
local out = {}
for i = 1, #KEYS do
    out[i] = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') > 0 and 1 or 0
end
return out
"""


async def users_connected(user_ids: list[int]) -> set[int]:
    """Which of these users hold a connection (of any kind) on any node now; empty if Redis is away."""
    if not user_ids:
        return set()
    keys = [Slot(kind=kind, user_id=user_id, connection_id="").key for user_id in user_ids for kind in KINDS]
    try:
        live = await redis_client().eval(_ANY_LIVE, len(keys), *keys)
    except Exception as exc:  # best effort, like presence
        logger.warning("connection slots not read: %r", exc)
        return set()
    return {user_ids[index // len(KINDS)] for index, flag in enumerate(live) if flag}


def _ttl() -> int:
    return settings.CHAT_PRESENCE_TTL


async def _refresh_forever(node: _NodeSlots) -> None:
    while True:
        await asyncio.sleep(settings.CHAT_PRESENCE_HEARTBEAT)
        try:
            local = [(key, sorted(members)) for key, members in node.local.items() if members]
            if not local:
                continue
            async with redis_client().pipeline(transaction=False) as pipe:
                for key, members in local:
                    pipe.eval(_REFRESH, 1, key, _ttl(), *members)
                await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("connection slots not refreshed: %r", exc)
