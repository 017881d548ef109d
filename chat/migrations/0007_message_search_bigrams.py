"""Korean (and Japanese, Chinese) words of two characters, found through an index on PostgreSQL.

A query with Hangul, kana or Han characters matches each term as a substring (`ILIKE`), which the
pg_trgm index serves only for terms of three characters or more: `회의` or `검색` has no trigram, so
PostgreSQL read the whole table (about 1 s at 1,000,000 messages). This adds a generated column of
the body's two-character substrings within runs of those scripts, with a GIN index, that
chat/domain/search.py requires to contain the query's (`@>`) before `ILIKE` checks the terms.

Adding a stored generated column rewrites chat_message with the table locked (docs/deploy.md,
step 3). SQLite needs nothing: its FTS5 trigram table already
matches short terms (with `instr`).
"""

from django.db import migrations

# The scripts of chat/domain/search.py's _SUBSTRING_SCRIPTS_RE.
SCRIPTS = r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7af"

POSTGRES_FORWARD = [
    # Distinct two-character substrings of every run of two or more characters of those scripts.
    "CREATE FUNCTION chat_cjk_bigrams(body text) RETURNS text[] "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
    "SELECT coalesce(array_agg(DISTINCT substr(r.run[1], i, 2)), '{}') "
    f"FROM regexp_matches(body, '[{SCRIPTS}]{{2,}}', 'g') AS r(run), "
    "generate_series(1, length(r.run[1]) - 1) AS i $$",
    "ALTER TABLE chat_message ADD COLUMN search_bigrams text[] "
    "GENERATED ALWAYS AS (chat_cjk_bigrams(body)) STORED",
    "CREATE INDEX chat_message_search_bigrams ON chat_message USING GIN (search_bigrams)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS chat_message_search_bigrams",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_bigrams",
    "DROP FUNCTION IF EXISTS chat_cjk_bigrams(text)",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_api_tokens")]

    operations = [
        migrations.RunPython(_run({"postgresql": POSTGRES_FORWARD}), _run({"postgresql": POSTGRES_BACKWARD})),
    ]
