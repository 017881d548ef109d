"""The per-node repair loop: what the database holds reaches subscribers even if a broadcast is lost,
and what it no longer allows ends even if the revoking event is lost.

Live delivery over the channel layer is at-most-once: a publish fails while Redis is down, a node
can die between commit and publish, and a subscription can race a write on another node. Each node
therefore checks, every CHAT_REPAIR_INTERVAL seconds, the `last_seq` of the rooms its connections
are subscribed to and tells its local subscribers the newest seq that has been committed for at
least one interval. A connection that is behind fills the gap from the database
(chat/protocol/handlers/delivery.py).

The events that revoke access (a member removed, a room made private, a logout, a deactivation, a
password change) are lost the same way. So the same tick also re-checks, for this node's
connections, that each private room subscribed is still readable by its subscriber, and that each
connection's login session would still sign in: it exists and has not expired, and its user exists,
is active and has the password the session was checked against (and a connection opened with an
API token, that the token is not revoked). A connection that fails is ended
as the live event would have ended it (`unsubscribed` with reason forbidden and `room.removed`;
close 4401), through the layer's local delivery, so it is handled in turn with its other events.

Per tick and node that is two queries whatever the number of connections (chat/domain/checks.py):
one for the rooms (with the memberships of the checked users in the private ones), one for the
users and sessions (a third, for the API tokens, only when a checked connection signed in with one). A tick checks up to CHECK_BATCH connections, those checked longest ago first:
with more connections than that on a node, each is re-checked every ceil(connections / CHECK_BATCH)
ticks, which bounds a tick's cost. Every fill from the database checks access on its own.

The loop and its list of connections are per process by design: a node checks its own connections.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat.domain import checks
from chat.realtime import groups
from chat.realtime.loops import PerLoop

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession

logger = logging.getLogger(__name__)


# Connections whose access a tick re-checks at most (bench/repair_tick.py: about 3-10 ms of the
# database thread for 1,000; docs/reliability.md, "Revocation").
CHECK_BATCH = 1000

_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()
# This event loop's open connections (per process by design: the loop checks its own), in the order
# they are due: those checked longest ago first (a tick moves those it checked to the end). A dict
# for its order: a tick takes its batch from the front in O(batch), not O(connections).
_sessions: PerLoop[dict[ChatSession, None]] = PerLoop(dict)


def watch(session: ChatSession) -> None:
    """Check this connection every tick from now on (and start the loop if it is not running)."""
    _sessions.get()[session] = None  # authenticated just now: due last
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(_repair_forever(), name="chat-repair-loop")


def unwatch(session: ChatSession) -> None:
    """The connection is gone."""
    _sessions.get().pop(session, None)


def _local_room_ids(layer) -> list[int]:
    return [room_id for room_id in map(groups.room_id_of, layer.local_groups()) if room_id is not None]


class _Repair:
    """The loop's memory between ticks."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.announced: dict[int, int] = {}
        self.seen_last_tick: dict[int, int] = {}

    async def tick(self) -> None:
        # The connections whose access is re-checked this tick: all of them up to CHECK_BATCH, else
        # those checked longest ago, so that each is checked every ceil(connections / CHECK_BATCH)
        # ticks and a tick's cost stays bounded.
        due = _sessions.get()
        batch = []
        for session in list(itertools.islice(due, CHECK_BATCH)):
            if session.closed or session.ended:  # its transport's shutdown unwatches it; until then, last
                del due[session]
                due[session] = None
            else:
                batch.append(session)
        as_of = time.monotonic()  # before the reads: what they say is at least this recent
        room_ids = _local_room_ids(self.layer)
        user_ids = sorted({session.user.pk for session in batch if session.subscriptions})
        rooms = (
            await database_sync_to_async(checks.rooms_repair_state)(room_ids=room_ids, user_ids=user_ids)
            if room_ids
            else {}
        )
        # Revocations first: a connection handles its events in order, so it has lost the
        # subscription before a room head could make it read the room from the database.
        self._revoke_unreadable(batch, rooms, set(room_ids), as_of)
        await self._announce_heads(rooms)
        try:
            await self._end_unauthenticated(batch, as_of)
        except Exception as exc:  # logged alone: the message repair above is done all the same
            logger.warning("repair loop: sockets check failed: %r", exc)

    async def _end_unauthenticated(self, sessions: list[ChatSession], as_of: float) -> None:
        if not sessions:
            return
        users, live = await database_sync_to_async(checks.sessions_check)(
            user_ids=sorted({session.user.pk for session in sessions}),
            session_keys=sorted({session.session_key for session in sessions if session.session_key}),
        )
        token_ids = sorted({session.api_token_id for session in sessions if session.api_token_id is not None})
        live_tokens = (
            await database_sync_to_async(checks.api_tokens_live)(token_ids=token_ids) if token_ids else set()
        )
        due = _sessions.get()
        for session in sessions:
            if session in due:  # still watched: due again after all the others
                del due[session]
                due[session] = None
            password, is_active = users.get(session.user.pk, (None, False))
            if session.api_token_id is not None and session.api_token_id not in live_tokens:
                self.layer.send_local(
                    session.channel_name, {"type": "chat.api_token_revoked", "token": session.api_token_id}
                )
            elif not is_active or password != session.password_hash:
                self.layer.send_local(session.channel_name, {"type": "chat.user_sessions_ended"})
            elif session.session_key not in live:
                self.layer.send_local(
                    session.channel_name,
                    {"type": "chat.session_ended", "session": session.session_fingerprint},
                )

    def _revoke_unreadable(
        self,
        sessions: list[ChatSession],
        rooms: dict[int, checks.RoomState],
        checked: set[int],
        as_of: float,
    ) -> None:
        for session in sessions:
            for room_id, subscription in list(session.subscriptions.items()):
                if room_id not in checked:
                    continue  # subscribed after the read
                state = rooms.get(room_id)  # None: the room was deleted
                if state is None or not state.readable_by(session.user.pk):
                    self.layer.send_local(
                        session.channel_name,
                        {
                            "type": "chat.access_revoked",
                            "room_id": room_id,
                            "slug": subscription.slug,
                            "as_of": as_of,
                        },
                    )

    async def _announce_heads(self, rooms: dict[int, checks.RoomState]) -> None:
        # Announce only what was already committed a tick ago: live broadcasts of newer messages
        # are most likely still in flight.
        for room_id, last_seq in self.seen_last_tick.items():
            if room_id in rooms and last_seq > self.announced.get(room_id, 0):
                await self.layer.group_send_local(
                    groups.room_group(room_id),
                    {"type": "chat.room_head", "room_id": room_id, "last_seq": last_seq},
                )
                self.announced[room_id] = last_seq
        self.announced = {room_id: seq for room_id, seq in self.announced.items() if room_id in rooms}
        self.seen_last_tick = {room_id: state.last_seq for room_id, state in rooms.items()}


async def _repair_forever() -> None:
    repair = _Repair(get_channel_layer())
    while True:
        await asyncio.sleep(settings.CHAT_REPAIR_INTERVAL)
        try:
            await repair.tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be briefly unreachable; try next tick
            logger.warning("repair loop tick failed: %r", exc)
