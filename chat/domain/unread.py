"""Reads of read positions: how far a user has read each room, and what is unread there.

One statement for any number of (user, room) pairs, so that `rooms.list` over 100 rooms and a node's
flush of many users' `read` frames each cost one query, not one per room. Hand-written SQL (built
once per database vendor) because each count must stop after CHAT_UNREAD_MAX rows: a correlated
`COUNT(*)` over a `LIMIT`ed subquery, which the ORM cannot express, keeps the cost of a room with a
million unread messages at CHAT_UNREAD_MAX index entries.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from chat.models import Mention, Message, ReadPosition, Room

# Pairs per statement: SQLite allows 32,766 parameters (older builds 999), so stay far below.
CHUNK = 400


@dataclass(frozen=True)
class ReadState:
    """Where a user stands in a room. `read_seq` is None if they never read it; `unread` and
    `mentions` stop at CHAT_UNREAD_MAX; `last_seq` is the room's newest seq they were counted to."""

    room_id: int
    slug: str
    read_seq: int | None
    last_seq: int
    unread: int
    mentions: int

    def fields(self) -> dict[str, int | None]:
        """The fields a room object and `read.updated` carry (docs/protocol.md)."""
        return {"read_seq": self.read_seq, "unread": self.unread, "mentions": self.mentions}


def read_states(*, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], ReadState]:
    """The ReadState of each (user id, room id) pair, keyed by the pair (rooms that no longer
    exist are left out). One statement per CHUNK pairs.

    What counts as unread is decided in `_unread_statement` (one place, for every caller).
    """
    pairs = list(dict.fromkeys(pairs))
    states: dict[tuple[int, int], ReadState] = {}
    limit = settings.CHAT_UNREAD_MAX
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start : start + CHUNK]
            params: list[int] = [limit, limit]
            for user_id, room_id in chunk:
                params.extend((user_id, room_id))
            cursor.execute(_unread_statement(connection.vendor, len(chunk)), params)
            for user_id, room_id, slug, last_seq, read_seq, unread, mentions in cursor.fetchall():
                states[(user_id, room_id)] = ReadState(
                    room_id=room_id, slug=slug, read_seq=read_seq, last_seq=last_seq,
                    unread=unread, mentions=mentions,
                )  # fmt: skip
    return states


def read_states_of(*, user: AbstractBaseUser, room_ids: Iterable[int]) -> dict[int, ReadState]:
    """One user's ReadState in each of these rooms, keyed by room id (one query per CHUNK rooms)."""
    states = read_states(pairs=[(user.pk, room_id) for room_id in room_ids])
    return {room_id: state for (_, room_id), state in states.items()}


@functools.cache
def _unread_statement(vendor: str, count: int) -> str:
    """SELECT user, room, slug, last_seq, read_seq, unread, mentions for `count` (user, room) pairs.

    Unread: the room's messages after the read position, not deleted, not written by the user, not
    system lines (someone joined, the topic changed: shown, never counted, as in Slack).
    A room never read counts from its start if it is private (the user was added to it: a DM, an
    invitation) and has nothing unread if it is public (a public room not opened yet is not
    followed, as in Slack's channels not joined); its mentions always count from the start.
    Mentions: the unread messages that name the user (Mention rows, written at send).
    System lines carry no Mention rows.
    """
    quote = connection.ops.quote_name
    message, mention = quote(Message._meta.db_table), quote(Mention._meta.db_table)
    room, position = quote(Room._meta.db_table), quote(ReadPosition._meta.db_table)
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS bigint))"] * count)
    never_read = "CASE WHEN r.is_private THEN 0 ELSE r.last_seq END"
    return f"""
        SELECT v.column1, r.id, r.slug, r.last_seq, p.seq,
            (SELECT COUNT(*) FROM (
                SELECT 1 FROM {message} m
                WHERE m.room_id = r.id AND m.seq > COALESCE(p.seq, {never_read})
                  AND m.deleted_at IS NULL AND (m.author_id IS NULL OR m.author_id <> v.column1)
                  AND m.kind = 'message'
                LIMIT %s) AS unread_rows),
            (SELECT COUNT(*) FROM (
                SELECT 1 FROM {mention} n JOIN {message} m ON m.id = n.message_id
                WHERE n.user_id = v.column1 AND n.room_id = r.id AND n.seq > COALESCE(p.seq, 0)
                  AND m.deleted_at IS NULL
                LIMIT %s) AS mention_rows)
        FROM (VALUES {values}) AS v
        JOIN {room} r ON r.id = v.column2
        LEFT JOIN {position} p ON p.user_id = v.column1 AND p.room_id = r.id
    """
