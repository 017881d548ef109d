"""Django's SQLite backend, with the write lock taken in turn by every process that shares the file.

Every transaction begins with BEGIN IMMEDIATE (settings: SQLite's write lock at once, no upgrade
deadlocks). When another process holds that lock, SQLite's busy handler sleeps and tries again after
1, 2, 5, 10, 15 ... ms, however soon the lock is free: in the many-rooms benchmark (two nodes, one
file) a batch's BEGIN waited 3.6 ms at p90 and 10-19 ms at p99 for transactions that take about one.
Here each connection first takes an exclusive flock() on a lock file beside the database, trying
again every millisecond at most, so a writer gets in within a millisecond of the holder's commit.
Writers that do not come through this backend (the sqlite3 shell, a plain write outside a
transaction) still meet the busy timeout, as before.
"""

import fcntl
import os
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock_fd: int | None = None
        self._write_lock_held = False
        self._write_lock_timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _start_transaction_under_autocommit(self) -> None:
        self._take_write_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _commit(self) -> None:
        try:
            return super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self) -> None:
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            return super()._close()
        finally:
            self._release_write_lock()
            if self._write_lock_fd is not None:
                os.close(self._write_lock_fd)
                self._write_lock_fd = None

    def _take_write_lock(self) -> None:
        if self.is_in_memory_db():
            return  # one connection's own database: nobody to take turns with
        if self._write_lock_fd is None:
            # One open file per connection: flock() excludes other threads' connections too.
            self._write_lock_fd = os.open(
                f"{self.settings_dict['NAME']}.writelock", os.O_RDWR | os.O_CREAT, 0o600
            )
        # Tries again after 50 us, doubling to 1 ms: a writer gets the lock at most 1 ms after it is
        # free. A blocking flock() would hand it over at once but wait for ever on a holder that is
        # stuck (stopped, in a debugger); like SQLite's own timeout, this gives up after `timeout`.
        deadline = time.monotonic() + self._write_lock_timeout
        pause = 0.00005
        while True:
            try:
                fcntl.flock(self._write_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationalError("database is locked (another writer holds it)") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
        self._write_lock_held = True

    def _release_write_lock(self) -> None:
        if self._write_lock_held:
            self._write_lock_held = False
            fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)
