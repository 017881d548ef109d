"""Run in a node's Django shell by tests/test_files_search_cluster.py: phrase search on each of its
paths (chat/domain/search.py: the newest messages, reading back further, the planner's plan) gives
exactly the messages the user may read, in order, page after page, ties in created_at included.

Not a test module: it needs the cluster's database (SQLite or PostgreSQL), which only the nodes'
settings name.
"""

from datetime import timedelta
from unittest import mock

from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from chat.domain import rooms, search, selectors
from chat.models import Message

PHRASE = '"vermilion kettle"'
ID_BASE = 900_000_000  # explicit ids, far above those of the cluster's other tests
# (RECENT_PROBE, READ_BACK_MAX) that take each path with the messages below; windows of a few
# messages end inside a group of messages of one timestamp.
PATHS = {"recent": (1_000, 2_000), "read_back": (6, 900), "all": (3, 5)} | {
    f"window {n}": (n, n + 4) for n in range(12, 18)
}


def check() -> dict:
    """Seed, search as a member, a removed member and an outsider with each path forced, and
    return the pages that differ from what the rule says (none) and the paths that ran."""
    users = get_user_model().objects
    member, removed, outsider = (
        users.create_user(username=f"paths-{n}") for n in ("member", "removed", "outsider")
    )
    public = rooms.room_create(creator=member, title="Paths public")
    private = rooms.room_create(creator=member, title="Paths private", is_private=True)
    rooms.room_member_add(room_slug=private.slug, actor=None, username=removed.username, as_admin=True)
    rooms.room_member_remove(room_slug=private.slug, actor=None, username=removed.username, as_admin=True)
    now = timezone.now()
    rows = []
    for i in range(120):
        room = private if i % 4 == 3 else public
        body = "The vermilion kettle boils" if i % 3 < 2 else ("kettle of vermilion paint", "tea time")[i % 2]
        rows.append(
            Message(
                # Within a timestamp, ids fall as rows are inserted: the created_at index gives them
                # in the opposite order to the search's (created_at, then id, newest first).
                pk=ID_BASE + 5 * (i // 5) + 4 - i % 5, room=room, seq=i + 1, author=member, body=body, body_html=f"<p>{body}</p>",
                client_msg_id=f"paths-{i}",
                created_at=now - timedelta(seconds=i // 5),  # five messages to a timestamp
                deleted_at=now if i % 7 == 6 else None,
            )
        )  # fmt: skip
    Message.objects.bulk_create(rows)
    ran: set[str] = set()
    page = search._pg_page

    def recording(cursor, order, query, where, where_params, recent, *args):
        ids, full = page(cursor, order, query, where, where_params, recent, *args)
        if full:
            ran.add({None: "all", 1_000: "recent", 900: "read_back"}.get(recent, "window"))
        return ids, full

    wrong = []
    ranked = 10
    for user in (member, removed, outsider):
        readable = [
            m
            for m in Message.objects.filter(room__in=[public, private], deleted_at__isnull=True)
            if "vermilion kettle" in m.body.lower() and (m.room_id == public.pk or user == member)
        ]
        readable.sort(key=lambda m: (m.created_at, m.pk), reverse=True)
        for order in ("newest", "relevance"):
            # The bodies that match are the same, so rank ties and relevance is newest first too.
            expected = [m.pk for m in readable]
            if order == "relevance" and search.connection.vendor == "postgresql":
                expected = expected[:ranked]
            for path, (probe, read_back) in PATHS.items():
                with (
                    override_settings(CHAT_SEARCH_RANKED=ranked),
                    mock.patch.object(search, "RECENT_PROBE", probe),
                    mock.patch.object(search, "READ_BACK_MAX", read_back),
                    mock.patch.object(search, "_pg_page", recording),
                ):
                    got, cursor = [], None
                    while True:
                        result = selectors.messages_search(
                            user=user, query=PHRASE, order=order, limit=3, cursor=cursor
                        )
                        got += [r["id"] for r in result.results]
                        if result.next is None:
                            break
                        cursor = result.next
                if got != expected:
                    wrong.append(
                        {
                            "user": user.username,
                            "order": order,
                            "path": path,
                            "got": got,
                            "expected": expected,
                        }
                    )
    return {"wrong": wrong, "ran": sorted(ran), "vendor": search.connection.vendor}
