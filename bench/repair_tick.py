"""What the repair loop's checks cost a node per tick (docs/reliability.md, "Revocation").

Seeds a database with N users, each with a login session and one open connection on the node, and
R rooms (half of them private, each private room with 20 members among the users), then times the
tick's two reads (chat.domain.checks.rooms_repair_state and sessions_check) and its decisions
over the connections (chat.protocol.repair._Repair, with a layer that only counts what it is told).

    .venv/bin/python bench/repair_tick.py --database sqlite --connections 100 1000
    .venv/bin/python bench/repair_tick.py --database postgres --connections 100 1000

A tick checks at most chat.protocol.repair.CHECK_BATCH (1,000) connections, so 1,000 is the most a
tick reads; larger figures show what checking every connection every tick would cost.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

ROOMS = 200
MEMBERS_PER_PRIVATE_ROOM = 20
RUNS = 15


def setup_django(database_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-only-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def seed(connections: int) -> tuple[list, list[int]]:
    """Users with a session each, and the rooms; returns (connections, room ids)."""
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from chat.models import Membership, Room

    User = get_user_model()
    prefix = f"bench{connections}"  # each size has its own rows
    password = "pbkdf2_sha256$1000000$benchsalt$" + "A" * 43
    users = User.objects.bulk_create(
        [User(username=f"{prefix}-{i}", password=password) for i in range(connections)], batch_size=1000
    )
    expiry = timezone.now() + timedelta(days=14)
    store = SessionStore()
    sessions = [
        Session(
            session_key=f"benchsession{user.pk:028d}",
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expiry,
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions, batch_size=1000)
    rooms = Room.objects.bulk_create(
        [Room(slug=f"{prefix}-{i}", title=f"Bench {i}", is_private=i % 2 == 0) for i in range(ROOMS)]
    )
    Membership.objects.bulk_create(
        [
            Membership(room=room, user=users[(index * MEMBERS_PER_PRIVATE_ROOM + k) % len(users)])
            for index, room in enumerate(rooms)
            if room.is_private
            for k in range(MEMBERS_PER_PRIVATE_ROOM)
        ],
        batch_size=1000,
    )
    # One connection per user, subscribed to one room (a member's private room, or a public one).
    members = {}
    for membership in Membership.objects.filter(room__in=rooms):
        members.setdefault(membership.user_id, membership.room_id)
    public = [room.pk for room in rooms if not room.is_private]
    fake = []
    for index, (user, session) in enumerate(zip(users, sessions, strict=True)):
        room_id = members.get(user.pk, public[index % len(public)])
        fake.append(
            SimpleNamespace(
                user=SimpleNamespace(pk=user.pk),
                password_hash=user.password,
                session_key=session.session_key,
                session_fingerprint="x",
                channel_name=f"bench.{index}",
                subscriptions={room_id: SimpleNamespace(slug=f"room-{room_id}")},
                closed=False,
                ended=False,
            )
        )
    return fake, [room.pk for room in rooms]


def cost_ms(function, runs: int = RUNS) -> str:
    """The fastest of `runs` calls in wall time, and the median CPU time of this thread (which on
    SQLite includes the database engine's work): the machine may be busy with other work."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.thread_time()
        function()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
    return f"{min(walls):.1f} ms (CPU {statistics.median(cpus):.1f} ms)"


class CountingLayer:
    def __init__(self) -> None:
        self.sent = 0

    def send_local(self, channel, message) -> None:
        self.sent += 1


def measure(connections: int) -> None:
    from chat.domain import checks
    from chat.protocol import repair

    sessions, room_ids = seed(connections)
    user_ids = sorted({session.user.pk for session in sessions})
    keys = sorted({session.session_key for session in sessions})
    rooms_ms = cost_ms(lambda: checks.rooms_repair_state(room_ids=room_ids, user_ids=user_ids))
    sessions_ms = cost_ms(lambda: checks.sessions_check(user_ids=user_ids, session_keys=keys))
    rooms = checks.rooms_repair_state(room_ids=room_ids, user_ids=user_ids)
    users, live = checks.sessions_check(user_ids=user_ids, session_keys=keys)
    assert len(users) == len(live) == connections
    layer = CountingLayer()
    tick = repair._Repair(layer)

    def decide() -> None:
        tick._revoke_unreadable(sessions, rooms, set(room_ids), time.monotonic())
        for session in sessions:  # what _end_unauthenticated does with the rows
            password, is_active = users.get(session.user.pk, (None, False))
            if not is_active or password != session.password_hash or session.session_key not in live:
                layer.send_local(session.channel_name, {})

    decide_ms = cost_ms(decide)
    assert layer.sent == 0, "every connection is still allowed: nothing to end"
    print(
        f"{connections:>6} connections, {len(room_ids)} rooms: rooms_repair_state {rooms_ms}, "
        f"sessions_check {sessions_ms}, decisions {decide_ms}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    postgres = None
    if args.database == "postgres":
        from chat.testing.cluster import start_postgres

        postgres = start_postgres()
        url = postgres.url
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='chat-bench-')}/bench.sqlite3"
    try:
        setup_django(url)
        print(f"{args.database}:")
        for connections in args.connections:
            measure(connections)
    finally:
        if postgres is not None:
            from django.db import connections as db_connections

            db_connections.close_all()
            postgres.stop()


if __name__ == "__main__":
    main()
