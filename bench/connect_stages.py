"""Where a connection's server CPU goes, stage by stage: run inside a node's settings (bench/run.py,
the connections scenario, calls `measure` through `manage.py shell -c`).

Each stage is what the server does for one connect + authenticate + subscribe, called here the way
the server calls it (the database through database_sync_to_async, Redis on this event loop, the
channel layer of the settings), `count` times for distinct connections, and timed by the CPU time
of this whole process (every thread: the database thread's share is included). What a daphne
node does around them (the HTTP upgrade, autobahn's handshake, the ASGI scope, the consumer and
its tasks, the WebSocket frames) is not here: it is the difference between the bench's figure
per connect and the sum of these stages.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.sessions.models import Session

from chat.domain import selectors
from chat.protocol import repair
from chat.protocol.handlers.subscriptions import catch_up
from chat.realtime import groups, presence, slots
from chat.transports.auth import SessionAuthMiddleware


async def _timed(count: int, step: Callable[[int], Awaitable[None]]) -> float:
    """Microseconds of process CPU per call of `step(i)`, i in range(count)."""
    started = time.process_time()
    for i in range(count):
        await step(i)
    return 1e6 * (time.process_time() - started) / count


async def _measure(room_slug: str, keys: list[str]) -> dict[str, float]:
    store = __import__(settings.SESSION_ENGINE, fromlist=["SessionStore"]).SessionStore
    count = len(keys)
    layer = get_channel_layer()
    users: list = [None] * count
    rooms: list = [None] * count
    channels: list[str] = [""] * count
    out: dict[str, float] = {}

    async def hop(i: int) -> None:
        await database_sync_to_async(lambda: None)()

    middleware = SessionAuthMiddleware(None)

    async def user(i: int) -> None:
        users[i] = await database_sync_to_async(middleware.user_of)(store(keys[i]))

    async def channel(i: int) -> None:
        channels[i] = await layer.new_channel()

    async def slot(i: int) -> None:
        await slots.acquire(
            slots.Slot(kind="socket", user_id=users[i].pk, connection_id=channels[i]), limit=10**6
        )

    async def user_groups(i: int) -> None:
        await layer.group_add(groups.user_group(users[i].pk), channels[i])
        await layer.group_add(groups.LOBBY_GROUP, channels[i])

    async def room(i: int) -> None:
        rooms[i] = await database_sync_to_async(selectors.room_get_readable_with_role)(
            slug=room_slug, user=users[i]
        )

    async def room_group(i: int) -> None:
        await layer.group_add(groups.room_group(rooms[i][0].pk), channels[i])

    async def history(i: int) -> None:
        room, role = rooms[i]
        await database_sync_to_async(catch_up)(room, None, users[i], role=role)

    async def present(i: int) -> None:
        entry = presence.Presence(
            room_id=rooms[i][0].pk,
            user_id=users[i].pk,
            username=users[i].get_username(),
            connection_id=channels[i],
        )
        await presence.join(entry)

    class _Watched:
        closed = ended = False

    async def watch(i: int) -> None:
        repair.watch(_Watched())

    stages = [
        ("thread hop (database_sync_to_async of nothing)", hop),
        ("session and user look-up", user),
        ("own channel (channel layer new_channel)", channel),
        ("connection slot (Redis script)", slot),
        ("user and lobby groups", user_groups),
        ("room look-up and access check", room),
        ("room group", room_group),
        ("subscribed + history page (catch_up)", history),
        ("presence join", present),
        ("repair loop registration", watch),
    ]
    for name, step in stages:
        out[name] = await _timed(count, step)
    return out


def measure(room_slug: str, count: int = 200) -> dict[str, float]:
    """CPU microseconds per connection of each stage (module docstring)."""
    keys = list(Session.objects.values_list("session_key", flat=True)[:count])
    return asyncio.run(_measure(room_slug, (keys * (count // len(keys) + 1))[:count]))
