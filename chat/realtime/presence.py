"""Who is online in a room, across every node, kept in Redis with heartbeats and a TTL.

Each (room, connection) is one member of the room's sorted set, scored by when it expires;
a user with several tabs counts once. Nodes refresh their own connections' entries every
PRESENCE_HEARTBEAT seconds, so the entries of a node that dies (kill -9: no disconnect ever
runs) expire within PRESENCE_TTL seconds, and every other node then reports the user gone.

Each node also polls the rooms its connections are subscribed to every PRESENCE_POLL seconds
and, when the set of online users changed, sends a `presence` frame to its local subscribers.
Every change of a room's set (a join, a leave, an entry expired) also increments the room's
version key, so a poll is one script that expires entries and returns the members of the rooms
whose version moved since this node last read them: an idle node reads numbers, not every
member of every room each second (at 15,000 sockets in 500 rooms, that read was a quarter of the
node's idle CPU; docs/benchmarks.md).
The registry of local connections below is per process by design: it lists this process's
sockets, which only this process can refresh.
"""

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from chat.realtime import groups
from chat.realtime.loops import PerLoop
from chat.realtime.redisclient import redis_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Presence:
    """One connection's presence in one room."""

    room_id: int
    user_id: int
    username: str
    connection_id: str

    @functools.cached_property
    def member(self) -> bytes:
        """The set's member, encoded once (a heartbeat writes every entry of the node again).
        Usernames cannot contain ":" (Django's validator allows letters, digits and @.+-_)."""
        return f"{self.user_id}:{self.username}:{self.connection_id}".encode()


def _key(room_id: int) -> str:
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:presence:{int(room_id)}"


def _version_key(room_id: int) -> str:
    return f"{_key(room_id)}:v"


# Rooms per poll script: a script blocks Redis while it runs, so a node that follows many rooms
# polls them in several.
POLL_CHUNK = 500

# KEYS: per room, its set and its version key; ARGV[1]: now, ARGV[2]: the keys' TTL, then per room
# the version this node last read ("" if none). Drops expired entries (a change: the version
# moves) and returns {index, version, members} for each room whose version is not the one read.
_POLL = """
local now, ttl = ARGV[1], tonumber(ARGV[2])
local changed = {}
for i = 1, #KEYS / 2 do
    local set, version = KEYS[2 * i - 1], KEYS[2 * i]
    local v
    if redis.call('ZREMRANGEBYSCORE', set, '-inf', now) > 0 then
        v = redis.call('INCR', version)
        redis.call('EXPIRE', version, ttl)
    else
        v = tonumber(redis.call('GET', version) or '0')
    end
    if tostring(v) ~= ARGV[i + 2] then
        changed[#changed + 1] = {i, v, redis.call('ZRANGE', set, 0, -1)}
    end
end
return changed
"""


def _usernames(members: list[bytes]) -> list[str]:
    names = {member.decode().split(":")[1] for member in members}
    return sorted(names)


@dataclass
class _NodePresence:
    """This process's connections per room, and the online list last sent for each room."""

    local: dict[int, set[Presence]] = field(default_factory=dict)
    sent: dict[int, list[str]] = field(default_factory=dict)
    versions: dict[int, str] = field(default_factory=dict)  # each room's version when last read
    leaves: int = 0  # leave() calls so far: a heartbeat checks its entries again only if one came
    task: asyncio.Task | None = None


_nodes = PerLoop(_NodePresence)


def _node() -> _NodePresence:
    loop = asyncio.get_running_loop()
    node = _nodes.get()
    if node.task is None or node.task.done():
        node.task = loop.create_task(_poll_forever(node), name="chat-presence")
    return node


async def join(entry: Presence) -> list[str]:
    """Mark a connection present in a room; returns the room's online usernames.

    When this node already follows the room, the answer is its last list (refreshed every
    CHAT_PRESENCE_POLL) plus this user: reading the whole set on every join cost O(n) per join, O(n^2)
    while a big room fills up after a restart. A change that list misses reaches the client with the
    next poll's `presence` frame, as every other change does.
    """
    node = _node()
    node.local.setdefault(entry.room_id, set()).add(entry)
    key = _key(entry.room_id)
    known = node.sent.get(entry.room_id)
    try:
        async with redis_client().pipeline(transaction=False) as pipe:
            pipe.zadd(key, {entry.member: time.time() + settings.CHAT_PRESENCE_TTL})
            pipe.expire(key, settings.CHAT_PRESENCE_TTL * 2)
            pipe.incr(_version_key(entry.room_id))
            pipe.expire(_version_key(entry.room_id), settings.CHAT_PRESENCE_TTL * 2)
            if known is None:
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.zrange(key, 0, -1)
            results = await pipe.execute()
    except Exception as exc:  # presence is best effort; chat goes on without it
        logger.warning("presence join failed: %r", exc)
        return [entry.username]
    await _remove_if_left(node, [entry])
    if known is not None:
        return sorted({*known, entry.username})
    online = _usernames(results[5])
    node.sent[entry.room_id] = online
    return online


async def room_online(room_id: int) -> set[str]:
    """The usernames online in a room now (on every node), read from Redis; empty if it is away.

    What this node tells one client, it takes as told to all its subscribers of the room: when the
    answer differs from the list it last sent, it sends the new one (a `presence` frame) and keeps
    it. Otherwise a user who joined and left between two polls, seen online in an answer, would
    never be announced gone: the poll compares with the last list sent, which never had them.
    """
    key = _key(room_id)
    try:
        members = await redis_client().zrangebyscore(key, time.time(), "+inf")
    except Exception as exc:  # presence is best effort
        logger.warning("presence read failed: %r", exc)
        return set()
    online = _usernames(members)
    node = _nodes.get()
    if room_id in node.local:
        await _announce_if_changed(get_channel_layer(), node, room_id, online)
    return set(online)


async def leave(entry: Presence) -> None:
    """Remove a connection from a room's presence."""
    node = _node()
    node.leaves += 1
    entries = node.local.get(entry.room_id)
    if entries is not None:
        entries.discard(entry)
        if not entries:
            del node.local[entry.room_id]
            node.sent.pop(entry.room_id, None)
            node.versions.pop(entry.room_id, None)
    await _remove([entry])


async def _remove(entries: list[Presence]) -> None:
    try:
        async with redis_client().pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.zrem(_key(entry.room_id), entry.member)
                pipe.incr(_version_key(entry.room_id))
                pipe.expire(_version_key(entry.room_id), settings.CHAT_PRESENCE_TTL * 2)
            await pipe.execute()
    except Exception as exc:
        logger.warning("presence leave failed: %r", exc)


async def _poll_forever(node: _NodePresence) -> None:
    layer = get_channel_layer()
    last_heartbeat = 0.0
    while True:
        await asyncio.sleep(settings.CHAT_PRESENCE_POLL)
        try:
            room_ids = list(node.local)
            if not room_ids:
                continue
            now = time.time()
            if now - last_heartbeat >= settings.CHAT_PRESENCE_HEARTBEAT:
                await _heartbeat(node, room_ids, now)
                last_heartbeat = now
            for start in range(0, len(room_ids), POLL_CHUNK):
                await _poll(layer, node, room_ids[start : start + POLL_CHUNK], now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("presence poll failed: %r", exc)


async def _poll(layer: Any, node: _NodePresence, room_ids: list[int], now: float) -> None:
    keys = [key for room_id in room_ids for key in (_key(room_id), _version_key(room_id))]
    seen = [node.versions.get(room_id, "") for room_id in room_ids]
    changed = await redis_client().eval(_POLL, len(keys), *keys, now, settings.CHAT_PRESENCE_TTL * 2, *seen)
    for index, version, members in changed:
        room_id = room_ids[index - 1]
        if room_id in node.local:  # not left while the script ran
            node.versions[room_id] = str(version)
            await _announce_if_changed(layer, node, room_id, _usernames(members))


async def _heartbeat(node: _NodePresence, room_ids: list[int], now: float) -> None:
    """Push this node's entries' expiry forward (an entry that had expired meanwhile is back: a
    change, so the room's version moves)."""
    expires = repr(now + settings.CHAT_PRESENCE_TTL).encode()  # as redis-py encodes a float, once
    leaves = node.leaves
    refreshed: list[Presence] = []
    written: list[int] = []
    async with redis_client().pipeline(transaction=False) as pipe:
        for room_id in room_ids:
            entries = list(node.local.get(room_id, ()))
            if entries:
                pipe.zadd(_key(room_id), {entry.member: expires for entry in entries})
                pipe.expire(_key(room_id), settings.CHAT_PRESENCE_TTL * 2)
                pipe.expire(_version_key(room_id), settings.CHAT_PRESENCE_TTL * 2)
                refreshed.extend(entries)
                written.append(room_id)
        results = await pipe.execute()
    came_back = [room_id for room_id, added in zip(written, results[::3], strict=True) if added]
    if came_back:
        async with redis_client().pipeline(transaction=False) as pipe:
            for room_id in came_back:
                pipe.incr(_version_key(room_id))
                pipe.expire(_version_key(room_id), settings.CHAT_PRESENCE_TTL * 2)
            await pipe.execute()
    if node.leaves != leaves:  # else none of the entries written can have left meanwhile
        await _remove_if_left(node, refreshed)


async def _remove_if_left(node: _NodePresence, written: list[Presence]) -> None:
    """Remove again the entries just written that left meanwhile: their leave's ZREM may have
    reached Redis before the write (another connection of the pool), which would bring the entry
    back until it expires (CHAT_PRESENCE_TTL)."""
    gone = [entry for entry in written if entry not in node.local.get(entry.room_id, ())]
    if gone:
        await _remove(gone)


async def _announce_if_changed(layer: Any, node: _NodePresence, room_id: int, online: list[str]) -> None:
    before = node.sent.get(room_id)
    if before == online or room_id not in node.local:
        return
    node.sent[room_id] = online
    await layer.group_send_local(
        groups.room_group(room_id),
        {
            "type": "chat.presence",
            "room_id": room_id,
            "users": online,
            "joined": sorted(set(online) - set(before or ())),
            "left": sorted(set(before or ()) - set(online)),
        },
    )
