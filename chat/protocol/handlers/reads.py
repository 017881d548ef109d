"""Read positions: `read` frames (coalesced per node, chat/domain/read_coalescing.py) and the
`read.updated` frames that keep every connection of a user in step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from chat.domain import read_coalescing, selectors
from chat.domain.errors import InvalidField
from chat.protocol import fields
from chat.realtime import metrics

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession

MAX_SEQ = 2**63 - 1


async def read(session: ChatSession, frame: dict[str, Any]) -> None:
    """`read {room, seq}`: the user has seen the room up to seq; stored within a flush interval,
    then `read.updated` to every connection of the user. No answer of its own."""
    slug = fields.room_slug(frame)
    seq = fields.optional_int(frame, "seq", minimum=0, maximum=MAX_SEQ)
    if seq is None:
        raise InvalidField("seq must be an integer >= 0.")
    room_id = session.room_ids_by_slug.get(slug)
    if room_id is None:
        # Not subscribed here: check access now (a subscription's was checked at subscribe, and is
        # ended by revocation events and the repair loop). The flush checks again before storing.
        room = await database_sync_to_async(selectors.room_get_readable)(slug=slug, user=session.user)
        room_id = room.pk
    metrics.READ_FRAMES.inc()
    read_coalescing.read_record(user_id=session.user.pk, room_id=room_id, seq=seq)


async def read_updated(session: ChatSession, event: dict[str, Any]) -> None:
    """This user's read position moved (on any connection, any node): forward the frame."""
    await session.send_text(event["text"])


FRAMES = {"read": read}
EVENTS = {"chat.read_updated": read_updated}
