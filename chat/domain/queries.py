"""The hand-written SQL of the send path, and why each statement is hand-written.

A send is five statements (BEGIN, the rate limit's read, the seq bump, the insert, COMMIT) and runs
for every message, so each of them is built once per database vendor from the models' metadata and
cached; the ORM equivalents either cannot do it in one statement (update() returns no rows) or
compile their SQL anew on every call. Every function here must run inside a transaction.
"""

import functools
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from chat.models import Message, Room


def message_insert(message: Message) -> None:
    """INSERT a new message row and set its pk, like save(force_insert=True) without signals.

    save() compiles its INSERT anew on every call, which was a fifth of a send's database time
    (docs/benchmarks.md, "Session 3"); this statement is built from the model's fields once.
    """
    sql, fields = _insert_statement(connection.vendor)
    params = [field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (message.pk,) = cursor.fetchone()
    message._state.adding = False
    message._state.db = connection.alias


@functools.cache
def _insert_statement(vendor: str) -> tuple[str, list]:
    quote = connection.ops.quote_name
    fields = [field for field in Message._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {quote(Message._meta.pk.column)}"
    )
    return sql, fields


def author_rate_wait(author: AbstractBaseUser) -> float | None:
    """None if the author may send; else the seconds until they may: until the oldest of their
    newest CHAT_RATE_LIMIT_MESSAGES messages is older than CHAT_RATE_LIMIT_WINDOW seconds.

    Counted in the database, inside the transaction that would store the send: every node writes
    there, so the limit holds across the cluster, and it cost no round trip of its own (a Redis
    counter checked before each send was a sixth of a sending node's CPU, docs/benchmarks.md).
    One statement, a backward scan of the (author, created_at) index over at most `limit` entries:
    the `limit`-th newest message of the window, if there is one, is both the refusal and the
    time it ends. Must run in a transaction.
    """
    limit = settings.CHAT_RATE_LIMIT_MESSAGES
    window = timedelta(seconds=settings.CHAT_RATE_LIMIT_WINDOW)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _limit_th_recent_statement(connection.vendor),
            [author.pk, connection.ops.adapt_datetimefield_value(now - window), limit - 1],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    wait = (_created_at_from_db(row[0]) + window - now).total_seconds()
    return max(0.0, math.ceil(wait * 1000) / 1000)


@functools.cache
def _limit_th_recent_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    author, created_at = (quote(Message._meta.get_field(name).column) for name in ("author", "created_at"))
    return (
        f"SELECT {created_at} FROM {quote(Message._meta.db_table)} WHERE {author} = %s AND {created_at} > %s "
        f"ORDER BY {created_at} DESC LIMIT 1 OFFSET %s"
    )


def _created_at_from_db(value: object) -> datetime:
    """A created_at value read with raw SQL, as the ORM would convert it (SQLite returns text)."""
    column = Message._meta.get_field("created_at").get_col(Message._meta.db_table)
    for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
        value = converter(value, column, connection)
    return value


def room_take_next_seq(slug: str) -> Room | None:
    """Bump the room's last_seq and return the whole room row (None if there is no such room).

    One statement, which is also the room's look-up: UPDATE ... RETURNING (PostgreSQL, SQLite >=
    3.35) takes the row lock and reads the row at once. Raw SQL because the ORM's update() cannot
    return rows, and this runs for every send. Must run in a transaction.
    """
    sql, names = _take_next_seq_statement(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug])
        row = cursor.fetchone()
    return None if row is None else Room.from_db(connection.alias, names, row)


@functools.cache
def _take_next_seq_statement(vendor: str) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    fields = Room._meta.concrete_fields
    returning = ", ".join(quote(field.column) for field in fields)
    sql = (
        f"UPDATE {quote(Room._meta.db_table)} SET last_seq = last_seq + 1 "
        f"WHERE {quote(Room._meta.get_field('slug').column)} = %s RETURNING {returning}"
    )
    return sql, [field.attname for field in fields]
