"""Message search: the query language, the vendor-specific SQL, and highlighting.

One selector (`selectors.messages_search`) calls `search_ids` here, which runs one SQL statement
with the access rule inside it (public rooms, and private rooms the user is a member of), so a
message the user may not read is never read from the database, let alone filtered out afterwards.

- PostgreSQL: `websearch_to_tsquery('simple', ...)` against the generated `chat_message.search_vector`
  (GIN index), ranked by `ts_rank`. A query with Hangul, kana or Han characters instead matches each
  term as a substring (`ILIKE`, served by the pg_trgm GIN index on the body): Korean attaches
  particles to words (회의 / 회의를 / 회의에서), which whole-word lexemes of any configuration would miss.
  Terms of two such characters, too short for trigrams, are elements of a GIN-indexed array of the
  body's two-character substrings in those scripts (migration 0006).
- SQLite: an FTS5 table with the trigram tokenizer (migration 0004), which matches substrings in every
  script; terms shorter than three characters, which trigrams cannot index, are matched with `instr`.

The query language (docs/protocol.md, "Search"): words, "quoted phrases", and -excluded words; every
word and phrase must appear. On PostgreSQL's word path `OR` also works (websearch_to_tsquery's syntax).
Client text never reaches FTS5's query syntax: each term is quoted by us, so `"`, `*`, `NEAR(` or
`AND` are plain text.
"""

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from chat.domain.errors import InvalidField, InvalidQuery
from chat.models import Attachment, Membership, Message, Room

ORDERS = ("newest", "relevance")
_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# Scripts written without spaces between a word and its particles, or without spaces at all.
_SUBSTRING_SCRIPTS_RE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7af]")
MAX_TERMS = 16
TRIGRAM = 3  # FTS5's trigram tokenizer and pg_trgm index substrings of at least this many characters


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: what must appear (words and phrases), what must not, and the cleaned text."""

    text: str
    terms: tuple[str, ...]
    excluded: tuple[str, ...]

    @property
    def substring(self) -> bool:
        """Whether terms are matched as substrings on PostgreSQL (Korean, Japanese, Chinese)."""
        return bool(_SUBSTRING_SCRIPTS_RE.search(self.text))


def query_parse(text: object) -> SearchQuery:
    """Parse a search query, or raise InvalidQuery. Control characters (NUL included) are spaces."""
    if not isinstance(text, str):
        raise InvalidQuery("The query must be a string.")
    if len(text) > settings.CHAT_SEARCH_MAX_QUERY_CHARS:
        raise InvalidQuery(f"The query is longer than {settings.CHAT_SEARCH_MAX_QUERY_CHARS} characters.")
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text).strip()
    terms: list[str] = []
    excluded: list[str] = []
    for match in _TOKEN_RE.finditer(cleaned):
        negated, phrase, word = match.groups()
        if phrase is not None:
            value, into = " ".join(phrase.split()), excluded if negated else terms
        elif word.upper() == "OR":
            continue
        elif word.startswith("-") and len(word) > 1:
            value, into = word[1:].replace('"', ""), excluded
        else:
            value, into = word.replace('"', ""), terms
        if value and value.casefold() not in {t.casefold() for t in into}:
            into.append(value)
    if len(terms) + len(excluded) > MAX_TERMS:
        raise InvalidQuery(f"The query has more than {MAX_TERMS} words.")
    return SearchQuery(text=cleaned, terms=tuple(terms), excluded=tuple(excluded))


def search_datetime(value: object, name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time (a date is its midnight, UTC; with end_of_day the next one)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidField(f"{name} must be an ISO 8601 date or date-time.")
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is None:
                raise ValueError(value)
            if end_of_day:
                day = date.fromordinal(day.toordinal() + 1)
            parsed = datetime.combine(day, time.min)
    except ValueError:
        raise InvalidField(f"{name} must be an ISO 8601 date or date-time.") from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


@dataclass(frozen=True)
class Filters:
    """The optional filters of a search, already validated."""

    room_slug: str | None = None
    author: str | None = None
    before: datetime | None = None
    after: datetime | None = None
    has_file: bool | None = None


def search_ids(
    *, user_id: int, query: SearchQuery, filters: Filters, order: str, limit: int, offset: int
) -> list[int]:
    """Ids of up to `limit` matching messages the user may read, in order, from `offset`."""
    if not query.terms:
        return []
    if connection.vendor == "postgresql":
        sql, params = _postgres(query, order)
    else:
        sql, params = _sqlite(query, order)
    where, where_params = _common_where(user_id, filters)
    # The match's parameters come before the WHERE clause's in every statement.
    sql = sql.format(where=where)
    params = [*params, *where_params, limit, offset]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A bound on any one search's cost; only inside a transaction does SET LOCAL hold.
            with transaction.atomic():
                cursor.execute(f"SET LOCAL statement_timeout = {int(settings.CHAT_SEARCH_TIMEOUT_MS)}")
                cursor.execute(sql, params)
                rows = cursor.fetchall()
        else:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    return [row[0] for row in rows]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _common_where(user_id: int, filters: Filters) -> tuple[str, list]:
    """The access rule and the filters, as SQL on the message alias `m`."""
    room, membership = _table(Room), _table(Membership)
    public = f"SELECT r.id FROM {room} r WHERE NOT r.is_private"
    member = f"SELECT ms.room_id FROM {membership} ms WHERE ms.user_id = %s"
    if connection.vendor == "postgresql":
        # Two hashed subplans, one probe each per row: as one IN (... UNION ...) PostgreSQL joined
        # the room ids in a nested loop, 10 ms of the 13 of ranking a common word's newest matches.
        rule = f"(m.room_id IN ({public}) OR m.room_id IN ({member}))"
    else:
        # SQLite would serve the OR form from the room_id index, room by room (MULTI-INDEX OR).
        rule = f"m.room_id IN ({public} UNION {member})"
    # System lines ("alice added bob") are never found.
    clauses = [f"m.deleted_at IS NULL AND m.kind = 'message' AND {rule}"]
    params: list = [user_id]
    if filters.room_slug is not None:
        clauses.append(f"m.room_id IN (SELECT r.id FROM {room} r WHERE r.slug = %s)")
        params.append(filters.room_slug)
    if filters.author is not None:
        users = _table(get_user_model())
        username = get_user_model().USERNAME_FIELD
        clauses.append(f"m.author_id IN (SELECT u.id FROM {users} u WHERE u.{username} = %s)")
        params.append(filters.author)
    if filters.before is not None:
        clauses.append("m.created_at < %s")
        params.append(connection.ops.adapt_datetimefield_value(filters.before))
    if filters.after is not None:
        clauses.append("m.created_at >= %s")
        params.append(connection.ops.adapt_datetimefield_value(filters.after))
    if filters.has_file is not None:
        clauses.append(("" if filters.has_file else "NOT ") + _has_file_sql())
    return " AND ".join(clauses), params


def _has_file_sql() -> str:
    return f"EXISTS (SELECT 1 FROM {_table(Attachment)} a WHERE a.message_id = m.id)"


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _postgres(query: SearchQuery, order: str) -> tuple[str, list]:
    message = _table(Message)
    if query.substring:
        # A term of two Korean/Japanese/Chinese characters is one element of migration 0006's
        # indexed array of bigrams, exactly (those scripts have no case): that alone, without an
        # ILIKE whose estimate the planner would multiply with it as if independent (it then read
        # back by date through 130,000 rows for a word in 0.8% of messages). Other terms, pg_trgm's.
        paired = [t for t in query.terms if len(t) == 2 and _bigrams((t,)) == [t]]
        scanned = [t for t in query.terms if t not in paired]
        clauses = ["m.search_bigrams @> %s::text[]"] if paired else []
        clauses += ["m.body ILIKE %s ESCAPE '\\'"] * len(scanned)
        clauses += ["m.body NOT ILIKE %s ESCAPE '\\'"] * len(query.excluded)
        match = " AND ".join(clauses)
        params = ([sorted(paired)] if paired else []) + [
            _like_pattern(t) for t in (*scanned, *query.excluded)
        ]
        sql = (
            f"SELECT m.id FROM {message} m WHERE {match} AND {{where}} "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
        )
        return sql, params
    matches = (
        f"SELECT m.id FROM {message} m, websearch_to_tsquery('simple', %s) q "
        "WHERE m.search_vector @@ q AND {where} ORDER BY m.created_at DESC, m.id DESC"
    )
    if order != "relevance":
        return matches + " LIMIT %s OFFSET %s", [query.text]
    # Ranking every match of a common word (half the table) takes seconds at a million messages,
    # and no index orders by ts_rank: rank only the newest matches, as many as pages can reach
    # (so every page ranks the same ones), which the index on created_at (common words) or the GIN
    # index and a top-N sort (rarer ones) find quickly; ts_rank runs on those alone.
    ranked = settings.CHAT_SEARCH_MAX_OFFSET + settings.CHAT_SEARCH_MAX_PAGE + 1
    newest = matches.replace("SELECT m.id", "SELECT m.id, m.created_at, m.search_vector, q", 1)
    sql = (
        f"SELECT c.id FROM ({newest} LIMIT {int(ranked)}) c "
        "ORDER BY ts_rank(c.search_vector, c.q) DESC, c.created_at DESC, c.id DESC LIMIT %s OFFSET %s"
    )
    return sql, [query.text]


def _bigrams(terms: tuple[str, ...]) -> list[str]:
    """The two-character substrings, both characters of _SUBSTRING_SCRIPTS_RE, of the terms (what
    chat_message.search_bigrams of migration 0006 holds of a body)."""
    pairs = {
        term[i : i + 2]
        for term in terms
        for i in range(len(term) - 1)
        if _SUBSTRING_SCRIPTS_RE.match(term[i]) and _SUBSTRING_SCRIPTS_RE.match(term[i + 1])
    }
    return sorted(pairs)


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _sqlite(query: SearchQuery, order: str) -> tuple[str, list]:
    message = _table(Message)
    indexed = [t for t in query.terms if len(t) >= TRIGRAM]
    short = [t for t in query.terms if len(t) < TRIGRAM]
    # instr on lower(): ASCII case folding, as SQLite's lower() has; Hangul has no case.
    scan = ["instr(lower(m.body), lower(%s)) > 0"] * len(short) + [
        "instr(lower(m.body), lower(%s)) = 0"
    ] * len(query.excluded)
    scan_params = [*short, *query.excluded]
    if indexed:
        match = " ".join(_fts_phrase(t) for t in indexed)
        rank = order == "relevance"
        sql = (
            f"SELECT m.id FROM chat_message_fts f JOIN {message} m ON m.id = f.rowid "
            "WHERE chat_message_fts MATCH %s AND "
            + "".join(f"{clause} AND " for clause in scan)
            + "{where} ORDER BY "
            + ("bm25(chat_message_fts), " if rank else "")
            + "m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
        )
        return sql, [match, *scan_params]
    sql = (
        f"SELECT m.id FROM {message} m WHERE "
        + "".join(f"{clause} AND " for clause in scan)
        + "{where} ORDER BY m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
    )
    return sql, scan_params


# --- highlighting ------------------------------------------------------------------------

SNIPPET_CHARS = 200
SNIPPET_LEAD = 60


def highlight(body: str, terms: tuple[str, ...]) -> str:
    """HTML of a window of the body around the first match, every match in <mark>: the text is
    escaped piece by piece and only our own <mark> tags are added, so it is safe to insert as HTML."""
    spans = _spans(body, terms)
    start = max(0, spans[0][0] - SNIPPET_LEAD) if spans else 0
    end = min(len(body), start + SNIPPET_CHARS)
    if spans and end < spans[0][1]:  # a very long match
        end = spans[0][1]
    out = ["…" if start > 0 else ""]
    position = start
    for span_start, span_end in spans:
        if span_end <= position or span_start >= end:
            continue
        span_start = max(span_start, position)
        span_end = min(span_end, end)
        out.append(html.escape(body[position:span_start]))
        out.append("<mark>" + html.escape(body[span_start:span_end]) + "</mark>")
        position = span_end
    out.append(html.escape(body[position:end]))
    out.append("…" if end < len(body) else "")
    return "".join(out)


def _spans(body: str, terms: tuple[str, ...]) -> list[tuple[int, int]]:
    """The merged (start, end) spans of every case-insensitive occurrence of a term."""
    if not terms:
        return []
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(body):
        if match.end() == match.start():
            continue
        if spans and match.start() <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], match.end()))
        else:
            spans.append((match.start(), match.end()))
    return spans
