"""Writes of read positions: store many users' positions in one statement, and tell each user's
connections on every node (`read.updated`) after commit. Mentions are recorded here at send too.

Positions only move forward: a `read` with a lower seq than the stored one (an older tab, a
reordered frame) writes nothing, and a seq beyond the room's newest is stored as the newest.
"""

import functools
import logging
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from chat.domain import unread
from chat.models import Membership, Mention, Message, ReadPosition, Room
from chat.realtime import events, metrics, userbatch

logger = logging.getLogger(__name__)

# Positions per statement (3 parameters each; SQLite allows 32,766, older builds 999).
CHUNK = 300


def read_positions_store(*, positions: dict[tuple[int, int], int]) -> list[tuple[int, int, int]]:
    """Store {(user id, room id): seq} (each seq the highest a user read in a room) and announce
    `read.updated` to each user whose position moved, after commit; returns the (user id, room id,
    seq) rows that moved.

    One UPSERT per CHUNK positions. A position is stored only if the user may read the room now
    (active; a public room, or a member of a private one: checked again here, since the frame was
    accepted up to one flush interval ago), clamped to the room's last_seq, and only if it is
    higher than the stored one (`DO UPDATE ... WHERE`: a lower or equal seq writes no row version).
    """
    items = [(user_id, room_id, seq) for (user_id, room_id), seq in positions.items() if seq > 0]
    moved: list[tuple[int, int, int]] = []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic():
        with connection.cursor() as cursor:
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                params: list[object] = [now]
                for item in chunk:
                    params.extend(item)
                cursor.execute(_upsert_statement(connection.vendor, len(chunk)), params)
                moved.extend(tuple(row) for row in cursor.fetchall())
                metrics.READ_FLUSH_STATEMENTS.inc()
        metrics.READ_POSITIONS_WRITTEN.inc(len(moved))
        if moved:
            transaction.on_commit(partial(_announce, moved), robust=True)
    return moved


@functools.cache
def _upsert_statement(vendor: str, count: int) -> str:
    quote = connection.ops.quote_name
    position, room = quote(ReadPosition._meta.db_table), quote(Room._meta.db_table)
    membership = quote(Membership._meta.db_table)
    user_model = ReadPosition._meta.get_field("user").related_model
    users = quote(user_model._meta.db_table)
    least = "LEAST" if vendor == "postgresql" else "MIN"  # SQLite's MIN(a, b) is scalar
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS bigint))"] * count)
    # `WHERE` before `ON CONFLICT`: SQLite needs it to parse an upsert from a SELECT.
    return f"""
        INSERT INTO {position} (user_id, room_id, seq, updated_at)
        SELECT v.column1, r.id, {least}(v.column3, r.last_seq), %s
        FROM (VALUES {values}) AS v
        JOIN {room} r ON r.id = v.column2
        JOIN {users} u ON u.id = v.column1
        WHERE u.is_active AND r.last_seq > 0
          AND (NOT r.is_private OR EXISTS (
              SELECT 1 FROM {membership} m WHERE m.room_id = r.id AND m.user_id = v.column1))
        ON CONFLICT (user_id, room_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
        WHERE excluded.seq > {position}.seq
        RETURNING user_id, room_id, seq
    """


def _announce(moved: list[tuple[int, int, int]]) -> None:
    """After commit: each moved position's counts (one query), as `read.updated` to its user's
    connections on every node, all in one publish (chat/realtime/userbatch.py)."""
    states = unread.read_states(pairs=[(user_id, room_id) for user_id, room_id, _ in moved])
    frames = []
    for (user_id, _), state in states.items():
        frame = {
            "type": "read.updated",
            "room": state.slug,
            "seq": state.read_seq,
            "last_seq": state.last_seq,
        }
        frame.update(unread=state.unread, mentions=state.mentions)
        frames.append((user_id, events.encode(frame)))
    userbatch.publish("chat.read_updated", frames)


def mentions_record(*, message: Message, user_ids: list[int]) -> None:
    """Inside the send's transaction: the users this message mentions (who may read its room), for
    their unread mention counts. One INSERT; nothing for a message without mentions."""
    if user_ids:
        Mention.objects.bulk_create(
            [
                Mention(message=message, user_id=user_id, room_id=message.room_id, seq=message.seq)
                for user_id in user_ids
            ]
        )
