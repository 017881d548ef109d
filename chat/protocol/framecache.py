"""A node's cache of the encoded frames that bring a subscriber up to date: the history page of a
subscribe without `since`, and the stored changes of one with `since`, by room and seq range.

Every subscriber of a room who subscribes at the same last_seq gets the same frames (message and
message.changed frames carry no per-viewer field: reactions list usernames, system lines name their
actor and target, never "you"; the `subscribed` frame, whose room object has the viewer's role and a
DM's title for them, is built for each subscriber and never cached here; access is checked before
the cache is asked), and a room's state up to a seq is final: every change to a message (an edit, a
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
# Characters of frame text held in all, and the most one entry may hold (a larger one, a catch-up of
# up to CHAT_CATCHUP_LIMIT long messages, is built for its subscriber and not kept): without them a
# client could fill the 256 entries with its own catch-ups (a `since` each) of a room of long messages.
MAX_CHARS = 8_000_000
MAX_ENTRY_CHARS = 500_000

Key = tuple[int, str, int | None, int]  # room id, slug, since (None: the history page), last_seq

# key -> (when built, the frames, their characters)
_entries: OrderedDict[Key, tuple[float, list[str], int]] = OrderedDict()
_chars = 0
# The database thread fills it; a lock keeps the order and size consistent if there are several.
_lock = threading.Lock()


def frames(key: Key, build: Callable[[], list[str]]) -> list[str]:
    """The frames cached for `key`, or `build()`'s, cached."""
    global _chars
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if entry is not None and now - entry[0] <= MAX_AGE:
            _entries.move_to_end(key)
            return entry[1]
    texts = build()
    size = sum(map(len, texts))
    if size > MAX_ENTRY_CHARS:
        return texts
    with _lock:
        old = _entries.pop(key, None)
        if old is not None:
            _chars -= old[2]
        _entries[key] = (now, texts, size)
        _chars += size
        # The least recently used first, while over either limit or expired (the new entry is neither).
        while (
            len(_entries) > MAX_ENTRIES
            or _chars > MAX_CHARS
            or now - next(iter(_entries.values()))[0] > MAX_AGE
        ):
            _, (_, _, dropped) = _entries.popitem(last=False)
            _chars -= dropped
    return texts


def clear() -> None:
    """Forget every entry (tests)."""
    global _chars
    with _lock:
        _entries.clear()
        _chars = 0
