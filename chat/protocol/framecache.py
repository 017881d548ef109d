"""A node's cache of the encoded frames that bring a subscriber up to date: the history page of a
subscribe without `since`, and the stored changes of one with `since`, by room and seq range.

Every subscriber of a room who subscribes at the same last_seq gets the same frames (they carry no
per-user field), and a room's state up to a seq is final: every change to a message (an edit, a
deletion, the admin's too, a reaction, a reply) is a new seq of the room. So the frames of
(room, since, last_seq) are read and encoded once per node and served to the next subscribers from
here: a room of 200 members that reconnect after a node dies costs one read, not 200 (before, 50
messages of history cost a subscribe about 4 ms of server CPU, three quarters of it in Django's ORM).

What is not a seq of the room, a user renamed in the admin, shows in these frames for up to
MAX_AGE seconds, as it does in the live frames that clients already hold. Per process by design:
a cache of reads that any node makes for itself; the database stays the truth.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Entries kept (least recently used dropped first), and how long one is served.
MAX_ENTRIES = 256
MAX_AGE = 5.0

Key = tuple[int, str, int | None, int]  # room id, slug, since (None: the history page), last_seq

_entries: OrderedDict[Key, tuple[float, list[str]]] = OrderedDict()
# The database thread fills it; a lock keeps the order and size consistent if there are several.
_lock = threading.Lock()


def frames(key: Key, build: Callable[[], list[str]]) -> list[str]:
    """The frames cached for `key`, or `build()`'s, cached."""
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if entry is not None and now - entry[0] <= MAX_AGE:
            _entries.move_to_end(key)
            return entry[1]
    texts = build()
    with _lock:
        _entries[key] = (now, texts)
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return texts


def clear() -> None:
    """Forget every entry (tests)."""
    with _lock:
        _entries.clear()
