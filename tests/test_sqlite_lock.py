"""The SQLite backend's write lock taken in turn (chat/sqlite/base.py), on the real database file."""

import fcntl
import os
import threading

import pytest
from django.db import OperationalError, connection, transaction

from chat.domain import rooms
from chat.models import Room
from chat.sqlite.base import open_write_lock

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sqlite_only():
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        pytest.skip("the write lock is for SQLite files")


def _in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()  # each thread has its own connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _lock_file_is_held() -> bool:
    fd = open_write_lock(connection.settings_dict["NAME"])
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_writer_begins_when_the_first_commits_and_not_before(alice):
    events: list[str] = []
    first_in, first_may_commit = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            events.append("first began")
            first_in.set()
            first_may_commit.wait(5)
            rooms.room_create(creator=alice, title="First")
            events.append("first commits")

    def second():
        first_in.wait(5)
        with transaction.atomic():
            events.append("second began")
            rooms.room_create(creator=alice, title="Second")

    threads = [_in_thread(first), _in_thread(second)]
    first_in.wait(5)
    # The second writer is waiting for the lock now; it must not get in while the first is open.
    threads[1].join(0.3)
    assert _lock_file_is_held()
    first_may_commit.set()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert events == ["first began", "first commits", "second began"]
    assert not _lock_file_is_held()
    assert set(Room.objects.values_list("slug", flat=True)) >= {"first", "second"}


def test_a_rolled_back_writer_frees_the_lock_while_its_connection_stays_open(alice):
    rolled_back, written = threading.Event(), threading.Event()

    def fails():
        with pytest.raises(RuntimeError), transaction.atomic():
            rooms.room_create(creator=alice, title="Rolled back")
            raise RuntimeError("refused")
        rolled_back.set()
        written.wait(30)

    def writes():
        rolled_back.wait(5)
        rooms.room_create(creator=alice, title="After")
        written.set()

    failing, writer = _in_thread(fails), _in_thread(writes)
    writer.join(5)
    stuck = writer.is_alive()
    written.set()
    failing.join(10)
    assert not stuck, "the writer is stuck waiting for the lock"
    assert Room.objects.filter(slug="after").exists()
    assert not Room.objects.filter(slug="rolled-back").exists()


def test_a_connection_closed_inside_a_transaction_frees_the_lock(alice):
    def left_open():
        transaction.set_autocommit(False)
        connection._start_transaction_under_autocommit()  # as atomic() does; then it never ends

    _in_thread(left_open).join(10)  # _in_thread closes the thread's connection
    writer = _in_thread(lambda: rooms.room_create(creator=alice, title="After"))
    writer.join(10)
    assert not writer.is_alive(), "the writer is stuck waiting for the lock"


def test_a_writer_that_cannot_get_the_lock_gives_up_with_an_error_not_a_hang(alice):
    # A holder that never lets go (stopped, in a debugger): like SQLite's own busy timeout, the
    # wait ends with "database is locked" after the connection's timeout.
    fd = open_write_lock(connection.settings_dict["NAME"])
    fcntl.flock(fd, fcntl.LOCK_EX)
    outcome: list[str] = []
    holder_gone = threading.Event()

    def writes():
        connection.ensure_connection()
        connection._write_lock_timeout = 0.3
        try:
            rooms.room_create(creator=alice, title="Blocked")
            outcome.append("written")
        except OperationalError as exc:
            outcome.append(str(exc))
        holder_gone.wait(5)  # then the same connection writes again, as a retry would
        rooms.room_create(creator=alice, title="Retried")
        outcome.append("retried")

    try:
        writer = _in_thread(writes)
        writer.join(1)
    finally:
        os.close(fd)
        holder_gone.set()
    writer.join(10)
    assert not writer.is_alive()
    assert len(outcome) == 2 and "database is locked" in outcome[0] and outcome[1] == "retried"
    assert not Room.objects.filter(slug="blocked").exists()
    assert Room.objects.filter(slug="retried").exists()
