"""Room roles, direct messages and system lines (issue #17).

Membership.role (the creator of a room becomes its owner), Room.kind and Room.dm_key (one
conversation per set of people), Message.kind and Message.system (system lines in the seq stream).

On SQLite, Django adds a NOT NULL column by rebuilding the table; rebuilding chat_message would drop
the full-text triggers of 0004, so its two columns are added with ALTER TABLE ADD COLUMN (the
statements Django writes on PostgreSQL).
"""

from django.db import migrations, models

MESSAGE_KIND = models.CharField(db_default="message", default="message", max_length=8)
MESSAGE_SYSTEM = models.JSONField(blank=True, null=True)


def _message_columns_forward(apps, schema_editor):
    schema_editor.execute("ALTER TABLE chat_message ADD COLUMN kind varchar(8) DEFAULT 'message' NOT NULL")
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            'ALTER TABLE chat_message ADD COLUMN system text NULL CHECK ((JSON_VALID("system") OR "system" IS NULL))'
        )
    else:
        schema_editor.execute("ALTER TABLE chat_message ADD COLUMN system jsonb NULL")


def _message_columns_backward(apps, schema_editor):
    for column in ("system", "kind"):
        schema_editor.execute(f"ALTER TABLE chat_message DROP COLUMN {column}")


def _owners_forward(apps, schema_editor):
    """Each room's creator owns it (a member of a public room too, so that the role has a row)."""
    Room = apps.get_model("chat", "Room")
    Membership = apps.get_model("chat", "Membership")
    for room_id, creator_id in Room.objects.filter(creator__isnull=False).values_list("pk", "creator_id"):
        updated = Membership.objects.filter(room_id=room_id, user_id=creator_id).update(role="owner")
        if not updated:
            Membership.objects.create(room_id=room_id, user_id=creator_id, role="owner")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0007_message_search_bigrams"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[("owner", "Owner"), ("moderator", "Moderator"), ("member", "Member")],
                db_default="member",
                default="member",
                max_length=16,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_message_columns_forward, _message_columns_backward)],
            state_operations=[
                migrations.AddField(model_name="message", name="kind", field=MESSAGE_KIND),
                migrations.AddField(model_name="message", name="system", field=MESSAGE_SYSTEM),
            ],
        ),
        migrations.AddField(
            model_name="room",
            name="dm_key",
            field=models.CharField(blank=True, editable=False, max_length=200, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="room",
            name="kind",
            field=models.CharField(
                choices=[("room", "Room"), ("dm", "Dm")], db_default="room", default="room", max_length=8
            ),
        ),
        migrations.RunPython(_owners_forward, migrations.RunPython.noop),
    ]
