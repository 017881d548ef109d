"""The repair loop's bulk re-checks (chat/protocol/repair.py): hand-written SQL, and why.

Every tick, each node reads the rooms its connections subscribe to (their newest seq, their privacy
and which of the connected users are members of the private ones) and the users and login sessions
of up to CHECK_BATCH of its connections (chat/protocol/repair.py). Each is one statement, whatever
the number of connections.

Hand-written because the ORM's version cost more than the database's work: Django prepares each
value of an `__in` list through its field (about 0.1 ms per 1,000 values), and its LEFT JOIN of
rooms to memberships with `user_id IN (...)` in the join condition made SQLite probe the
(room, user) index once per room and user: 134 ms for 200 rooms and 5,000 users, against 5 ms for
the UNION ALL below, which finds memberships through the user index. PostgreSQL gets each id list
as one array parameter (`= ANY(%s)`), which it parses and plans far faster than thousands of
placeholders. docs/reliability.md ("Revocation") has the figures and bench/repair_tick.py measures
them.
"""

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from chat.models import ApiToken, Membership, Room


@dataclass(frozen=True)
class RoomState:
    """What the repair loop needs of a room: its newest seq and who of its users may read it."""

    last_seq: int
    is_private: bool
    member_ids: frozenset[int]  # members among the users asked about (private rooms only)

    def readable_by(self, user_id: int) -> bool:
        return not self.is_private or user_id in self.member_ids


def _in(column: str, values: list) -> tuple[str, list]:
    """`column IN (...)` (SQLite) or `column = ANY(array)` (PostgreSQL), and its parameters."""
    if not values:
        return "1 = 0", []
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def rooms_repair_state(*, room_ids: list[int], user_ids: list[int]) -> dict[int, RoomState]:
    """Each room's newest seq and privacy, and which of `user_ids` are members of the private ones;
    a deleted room is absent. One statement: the rooms, UNION ALL the memberships of these users in
    the private ones among them."""
    room, membership = _q(Room._meta.db_table), _q(Membership._meta.db_table)
    room_pk, last_seq, is_private = (
        _q(Room._meta.get_field(f).column) for f in ("id", "last_seq", "is_private")
    )
    m_room, m_user = (_q(Membership._meta.get_field(f).column) for f in ("room", "user"))
    rooms_in, rooms_params = _in(f"r.{room_pk}", room_ids)
    users_in, users_params = _in(f"m.{m_user}", user_ids)
    # On SQLite, `+m.room_id` (a no-op) keeps the planner from probing the (room, user) index once
    # per room and user; it then goes through the user index.
    plus = "+" if connection.vendor == "sqlite" else ""
    member_rooms_in, member_rooms_params = _in(f"{plus}m.{m_room}", room_ids)
    sql = (
        f"SELECT r.{room_pk}, r.{last_seq}, r.{is_private}, NULL FROM {room} r WHERE {rooms_in} "
        f"UNION ALL "
        f"SELECT m.{m_room}, NULL, NULL, m.{m_user} FROM {membership} m "
        f"JOIN {room} r ON r.{room_pk} = m.{m_room} AND r.{is_private} "
        f"WHERE {users_in} AND {member_rooms_in}"
    )
    rooms: dict[int, tuple[int, bool]] = {}
    members: dict[int, set[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*rooms_params, *users_params, *member_rooms_params])
        for room_id, seq, private, user_id in cursor.fetchall():
            if user_id is None:
                rooms[room_id] = (seq, bool(private))
            else:
                members.setdefault(room_id, set()).add(user_id)
    return {
        room_id: RoomState(last_seq=seq, is_private=private, member_ids=frozenset(members.get(room_id, ())))
        for room_id, (seq, private) in rooms.items()
    }


def sessions_check(
    *, user_ids: list[int], session_keys: list[str]
) -> tuple[dict[int, tuple[str, bool]], set[str]]:
    """Each existing user's (password hash, is_active), and which of the session keys name a
    session that exists and has not expired. One statement: the users, UNION ALL the sessions.

    With a session engine that keeps no table (cache or signed cookies) only the users are read,
    and every session key is taken as live.
    """
    user_model = get_user_model()
    users, user_pk = _q(user_model._meta.db_table), _q(user_model._meta.pk.column)
    password, is_active = (_q(user_model._meta.get_field(f).column) for f in ("password", "is_active"))
    users_in, users_params = _in(f"u.{user_pk}", user_ids)
    sql = f"SELECT u.{user_pk}, u.{password}, u.{is_active}, NULL FROM {users} u WHERE {users_in}"
    params = list(users_params)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session_model = store.get_model_class() if hasattr(store, "get_model_class") else None
    if session_model is not None:
        sessions = _q(session_model._meta.db_table)
        key, expiry = (_q(session_model._meta.get_field(f).column) for f in ("session_key", "expire_date"))
        keys_in, keys_params = _in(f"s.{key}", session_keys)
        sql += (
            f" UNION ALL SELECT NULL, NULL, NULL, s.{key} FROM {sessions} s "
            f"WHERE {keys_in} AND s.{expiry} > %s"
        )
        params += [*keys_params, connection.ops.adapt_datetimefield_value(timezone.now())]
    found: dict[int, tuple[str, bool]] = {}
    live: set[str] = set() if session_model is not None else set(session_keys)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for user_id, password_hash, active, session_key in cursor.fetchall():
            if session_key is not None:
                live.add(session_key)
            else:
                found[user_id] = (password_hash, bool(active))
    return found, live


def api_tokens_live(*, token_ids: list[int]) -> set[int]:
    """Which of these API tokens exist and are not revoked (read only when a connection signed in
    with one is checked)."""
    return set(
        ApiToken.objects.filter(pk__in=token_ids, revoked_at__isnull=True).values_list("pk", flat=True)
    )
