"""Seeding for the history scenario, run inside a node's Django settings (`manage.py shell -c`)."""

from django.db import connection, transaction
from django.utils import timezone


def seed_history(room_slug: str, username: str, rows: int) -> None:
    """Give the room `rows` messages 1..rows by `username`, in one statement per database.

    A row generator (PostgreSQL's generate_series, SQLite's recursive CTE): the services would take
    many minutes for a million rows. The room's last_seq moves in the same transaction.
    """
    if connection.vendor == "postgresql":
        numbers = "generate_series(1, %s) AS n(i)"
    else:
        numbers = "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) SELECT i FROM n) AS n"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO chat_message (room_id, seq, author_id, body, body_html, created_at, client_msg_id, "
            "reply_count) "
            "SELECT r.id, n.i, u.id, 'message ' || n.i, '<p>message ' || n.i || '</p>', %s, 'seed-' || n.i, 0 "
            f"FROM {numbers}, chat_room r, auth_user u WHERE r.slug = %s AND u.username = %s",
            [now, rows, room_slug, username],
        )
        cursor.execute("UPDATE chat_room SET last_seq = %s WHERE slug = %s", [rows, room_slug])
