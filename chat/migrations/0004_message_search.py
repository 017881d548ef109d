"""Full-text search over message bodies, per database vendor (chat/domain/search.py reads it).

PostgreSQL: a generated tsvector column (text search configuration `simple`) with a GIN index, for
websearch_to_tsquery, and a pg_trgm GIN index on the body for substring search (Korean). SQLite: an
FTS5 external-content table with the trigram tokenizer over chat_message.body, kept in step by
triggers, so every insert, edit and deletion updates the index in its own transaction.

Warning for later migrations on SQLite: Django alters a SQLite table by rebuilding it, which drops
its triggers; a migration that alters chat_message must run `search_triggers_sql()` again
(tests/test_search.py checks that the triggers exist after all migrations).
"""

from django.db import migrations

FTS = "chat_message_fts"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_ai AFTER INSERT ON chat_message BEGIN "
    f"INSERT INTO {FTS}(rowid, body) VALUES (new.id, new.body); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_ad AFTER DELETE ON chat_message BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, body) VALUES ('delete', old.id, old.body); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_au AFTER UPDATE OF body ON chat_message BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, body) VALUES ('delete', old.id, old.body); "
    f"INSERT INTO {FTS}(rowid, body) VALUES (new.id, new.body); END",
]

SQLITE_FORWARD = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
    "body, content='chat_message', content_rowid='id', tokenize='trigram')",
    *SQLITE_TRIGGERS,
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS {FTS}_{suffix}" for suffix in ("ai", "ad", "au")] + [
    f"DROP TABLE IF EXISTS {FTS}"
]

POSTGRES_FORWARD = [
    # A trusted extension (PostgreSQL >= 13): the database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE chat_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, body)) STORED",
    "CREATE INDEX chat_message_search_vector ON chat_message USING GIN (search_vector)",
    "CREATE INDEX chat_message_body_trgm ON chat_message USING GIN (body gin_trgm_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS chat_message_body_trgm",
    "DROP INDEX IF EXISTS chat_message_search_vector",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_message_changes")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
