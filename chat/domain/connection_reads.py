"""The hand-written SQL of a connection's start: its login session and user, the room it subscribes
to with the user's role there, and the room's last seq.

Every connect runs these, and a node takes thousands of connects at once when another node dies and
its clients come over (docs/benchmarks.md, "Reconnect storm"). Through the ORM each was a query
compiled anew on every call: 250-600 us of CPU each against 10-30 us for the same statement built
once per database vendor and cached here (measured in one process on SQLite, 2026-11-29); five of
them were most of a connect's database time. The rules stay in the callers (the session checks in
chat/transports/auth.py, the access rule in selectors.room_get_readable_with_role); these only read.
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from chat.domain import rawsql
from chat.models import Membership, Room


def session_data(session_key: str) -> str | None:
    """The encoded data of an unexpired database session (django.contrib.sessions' `db` backend),
    as its SessionStore.load() reads it, or None."""
    row = rawsql.fetch_one(
        _session_statement(connection.vendor),
        [session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
    )
    return None if row is None else row[0]


@functools.cache
def _session_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    column = lambda name: quote(Session._meta.get_field(name).column)  # noqa: E731
    return (
        f"SELECT {column('session_data')} FROM {quote(Session._meta.db_table)} "
        f"WHERE {column('session_key')} = %s AND {column('expire_date')} > %s"
    )


def user_by_pk(pk: object) -> AbstractBaseUser | None:
    """The user with this primary key, all fields loaded (as `_default_manager.get(pk=...)`), or None."""
    User = get_user_model()
    sql, names, converters = _user_statement(connection.vendor)
    row = rawsql.fetch_one(sql, [pk])
    return None if row is None else rawsql.instance(User, names, converters, row)


@functools.cache
def _user_statement(vendor: str) -> tuple[str, list[str], list[list]]:
    User = get_user_model()
    quote = connection.ops.quote_name
    columns, names, converters = rawsql.select_list(User, "u")
    sql = f"SELECT {columns} FROM {quote(User._meta.db_table)} u WHERE u.{quote(User._meta.pk.column)} = %s"
    return sql, names, converters


def room_with_role(*, slug: str, user_id: int) -> tuple[Room, str | None] | None:
    """The room with this slug and the user's role in it (None: not a member), in one statement; None
    if there is no such room."""
    sql, names, converters = _room_statement(connection.vendor)
    row = rawsql.fetch_one(sql, [user_id, slug])
    if row is None:
        return None
    return rawsql.instance(Room, names, converters, row[:-1]), row[-1]


@functools.cache
def _room_statement(vendor: str) -> tuple[str, list[str], list[list]]:
    quote = connection.ops.quote_name
    columns, names, converters = rawsql.select_list(Room, "r")
    membership = lambda name: quote(Membership._meta.get_field(name).column)  # noqa: E731
    sql = (
        f"SELECT {columns}, ms.{membership('role')} FROM {quote(Room._meta.db_table)} r "
        f"LEFT OUTER JOIN {quote(Membership._meta.db_table)} ms "
        f"ON ms.{membership('room')} = r.{quote(Room._meta.pk.column)} AND ms.{membership('user')} = %s "
        f"WHERE r.{quote(Room._meta.get_field('slug').column)} = %s"
    )
    return sql, names, converters


def room_last_seq(room_id: int) -> int | None:
    """The room's newest seq (None for a room that is gone)."""
    row = rawsql.fetch_one(_last_seq_statement(connection.vendor), [room_id])
    return None if row is None else row[0]


@functools.cache
def _last_seq_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    return (
        f"SELECT {quote(Room._meta.get_field('last_seq').column)} FROM {quote(Room._meta.db_table)} "
        f"WHERE {quote(Room._meta.pk.column)} = %s"
    )
