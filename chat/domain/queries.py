"""The hand-written SQL of the group commit (sends and changes), and why each statement is hand-written.

A send is five statements on SQLite (BEGIN, the rate limit's read, the seq bump, the insert,
COMMIT) and six on PostgreSQL (the author's lock first) and runs for every message, so each of them
is built once per database vendor from the models' metadata and cached; the ORM equivalents either
cannot do it in one statement (update() returns no rows) or compile their SQL anew on every call.
A change to a message (an edit, a reaction) joins the same batches and is written the same way: the
ORM's compiling of its six queries was most of a change's CPU, about six times a send's
(docs/benchmarks.md, "Edits and reactions"). Every function here must run inside a transaction.
"""

import functools
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from chat.domain import rawsql
from chat.models import Attachment, Message, MessageChange, MessageEdit, Reaction, Room


def message_insert(message: Message) -> None:
    """INSERT a new message row and set its pk, like save(force_insert=True) without signals.

    save() compiles its INSERT anew on every call, which was a fifth of a send's database time
    (docs/benchmarks.md, "Session 3"); this statement is built from the model's fields once.
    """
    row_insert(message)


def row_insert(row: Message | MessageChange | MessageEdit | Reaction) -> None:
    """INSERT a new row of one of the write path's models and set its pk (no signals)."""
    sql, fields = _insert_statement(connection.vendor, type(row))
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (row.pk,) = cursor.fetchone()
    row._state.adding = False
    row._state.db = connection.alias


@functools.cache
def _insert_statement(vendor: str, model: type) -> tuple[str, list]:
    quote = connection.ops.quote_name
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    return sql, fields


# The first key of the authors' advisory locks (PostgreSQL's two-key form), so that they cannot
# collide with advisory locks another program takes in the same database.
AUTHOR_LOCK_NAMESPACE = 0x63686174  # "chat"


def authors_lock(author_ids: list[int | None]) -> None:
    """Serialize the sends of these authors, on every node, until the transaction ends.

    The rate limit counts an author's recent messages before inserting one. Under PostgreSQL's READ
    COMMITTED two nodes' transactions each counted limit - 1 committed rows and both inserted
    (31 stored per window with a limit of 30, every run); the room's row lock does not help: the
    count runs before it, and an author sends to several rooms. A transaction-scoped advisory lock
    per author, taken before the count, makes the second wait for the first's commit, and its
    count (a new statement, a new snapshot) then sees the first's row. Locks are taken in key
    order, and before any room's row lock (which batches take in slug order), so two batches never
    wait for each other in a cycle. Ids are folded to the lock's 32-bit key: two authors sharing a
    key only wait for each other. SQLite needs nothing: a write transaction holds the database's
    write lock from BEGIN (chat/sqlite/base.py), so every count already runs alone.
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({author_id % 2**31 for author_id in author_ids if author_id is not None})
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            # WITH ORDINALITY and ORDER BY: the locks are taken in the order of the sorted array.
            "SELECT pg_advisory_xact_lock(%s, key) FROM unnest(%s::integer[]) WITH ORDINALITY AS t(key, n) "
            "ORDER BY n",
            [AUTHOR_LOCK_NAMESPACE, keys],
        )


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
    return rawsql.convert(value, rawsql.field_converters(Message._meta.get_field("created_at")))


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


# --- changes to messages (chat/domain/message_changes.py) -----------------------------------------


def actor_over_change_rate(actor: AbstractBaseUser) -> bool:
    """Whether the user made CHAT_CHANGE_RATE_LIMIT changes (edits, deletions, reactions) in the last
    CHAT_CHANGE_RATE_WINDOW seconds: as author_rate_wait, the limit-th newest of the window, if there
    is one, read backwards from the (actor, created_at) index. Must run in a transaction."""
    since = timezone.now() - timedelta(seconds=settings.CHAT_CHANGE_RATE_WINDOW)
    with connection.cursor() as cursor:
        cursor.execute(
            _actor_recent_change_statement(connection.vendor),
            [actor.pk, connection.ops.adapt_datetimefield_value(since), settings.CHAT_CHANGE_RATE_LIMIT - 1],
        )
        return cursor.fetchone() is not None


@functools.cache
def _actor_recent_change_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    actor, created_at = (
        quote(MessageChange._meta.get_field(name).column) for name in ("actor", "created_at")
    )
    return (
        f"SELECT 1 FROM {quote(MessageChange._meta.db_table)} WHERE {actor} = %s AND {created_at} > %s "
        f"ORDER BY {created_at} DESC LIMIT 1 OFFSET %s"
    )


def message_for_change(*, room_id: int, message_id: int) -> tuple[Message, bool, bool] | None:
    """A message of this room with its author's username loaded, and whether it has reactions and
    attachments (so that a change reads them only when there are some); None if there is none."""
    sql, names, converters = _message_for_change_statement(connection.vendor)
    row = rawsql.fetch_one(sql, [message_id, room_id])
    if row is None:
        return None
    message = rawsql.instance(Message, names, converters, row[: len(names)])
    username, has_reactions, has_attachments = row[len(names) :]
    if message.author_id is not None:
        User = get_user_model()
        message.author = User.from_db(
            connection.alias, ["id", User.USERNAME_FIELD], [message.author_id, username]
        )
    return message, bool(has_reactions), bool(has_attachments)


@functools.cache
def _message_for_change_statement(vendor: str) -> tuple[str, list[str], list[list]]:
    quote = connection.ops.quote_name
    User = get_user_model()
    fields = Message._meta.concrete_fields
    table, pk = quote(Message._meta.db_table), quote(Message._meta.pk.column)
    columns = ", ".join(f"m.{quote(field.column)}" for field in fields)
    username = quote(User._meta.get_field(User.USERNAME_FIELD).column)
    sql = (
        f"SELECT {columns}, u.{username}, "
        f"EXISTS (SELECT 1 FROM {quote(Reaction._meta.db_table)} r "
        f"WHERE r.{quote(Reaction._meta.get_field('message').column)} = m.{pk}), "
        f"EXISTS (SELECT 1 FROM {quote(Attachment._meta.db_table)} a "
        f"WHERE a.{quote(Attachment._meta.get_field('message').column)} = m.{pk}) "
        f"FROM {table} m LEFT OUTER JOIN {quote(User._meta.db_table)} u "
        f"ON u.{quote(User._meta.pk.column)} = m.{quote(Message._meta.get_field('author').column)} "
        f"WHERE m.{pk} = %s AND m.{quote(Message._meta.get_field('room').column)} = %s"
    )
    return sql, [field.attname for field in fields], [rawsql.field_converters(field) for field in fields]


def message_update(message: Message, fields: tuple[str, ...]) -> None:
    """UPDATE these fields of a stored message, like save(update_fields=...) without signals."""
    sql, model_fields = _update_statement(connection.vendor, fields)
    params = [field.get_db_prep_save(getattr(message, field.attname), connection) for field in model_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, message.pk])


@functools.cache
def _update_statement(vendor: str, names: tuple[str, ...]) -> tuple[str, list]:
    quote = connection.ops.quote_name
    fields = [Message._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(Message._meta.db_table)} SET {assignments} WHERE {quote(Message._meta.pk.column)} = %s"
    return sql, fields


def message_reaction_rows(message_id: int) -> list[tuple[str, int, str]]:
    """A message's reactions as (emoji, user id, username), oldest first (as selectors.message_reactions
    orders them)."""
    with connection.cursor() as cursor:
        cursor.execute(_reaction_rows_statement(connection.vendor), [message_id])
        return [tuple(row) for row in cursor.fetchall()]


@functools.cache
def _reaction_rows_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    User = get_user_model()
    column = lambda name: quote(Reaction._meta.get_field(name).column)  # noqa: E731
    username = quote(User._meta.get_field(User.USERNAME_FIELD).column)
    return (
        f"SELECT r.{column('emoji')}, r.{column('user')}, u.{username} FROM {quote(Reaction._meta.db_table)} r "
        f"INNER JOIN {quote(User._meta.db_table)} u ON u.{quote(User._meta.pk.column)} = r.{column('user')} "
        f"WHERE r.{column('message')} = %s ORDER BY r.{column('created_at')}, r.{quote(Reaction._meta.pk.column)}"
    )


def reaction_delete(*, message_id: int, user_id: int, emoji: str) -> int:
    """DELETE one user's emoji on a message; the number of rows deleted (0 or 1)."""
    quote = connection.ops.quote_name
    column = lambda name: quote(Reaction._meta.get_field(name).column)  # noqa: E731
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(Reaction._meta.db_table)} "
            f"WHERE {column('message')} = %s AND {column('user')} = %s AND {column('emoji')} = %s",
            [message_id, user_id, emoji],
        )
        return cursor.rowcount
