"""Message search: the query language, the vendor-specific SQL, and highlighting.

(~510 lines, one concept: the three parts change together whenever the query language does, and
the SQL of each vendor is written next to the rule it must keep; a split would spread one query.)

One selector (`selectors.messages_search`) calls `search_ids` here, which runs one SQL statement
(on PostgreSQL, for a phrase, up to three: `_postgres_words`), each with the access rule inside it
(public rooms, and private rooms the user is a member of), so a message the user may not read is
never read from the database, let alone filtered out afterwards.

- PostgreSQL: `websearch_to_tsquery('simple', ...)` against the generated `chat_message.search_vector`
  (GIN index), ranked by `ts_rank` over the newest CHAT_SEARCH_RANKED matches. A query with Hangul, kana or Han characters instead matches each
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from time import monotonic as time_monotonic

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from chat.domain.errors import InvalidField, InvalidQuery, SearchTimedOut
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
    """Ids of up to `limit` matching messages the user may read, in order, from `offset`, within
    CHAT_SEARCH_TIMEOUT_MS of database time per statement (SearchTimedOut past it, on either database)."""
    try:
        with _sqlite_time_bound():
            return _search_ids(
                user_id=user_id, query=query, filters=filters, order=order, limit=limit, offset=offset
            )
    except OperationalError as error:
        cause = error.__cause__
        # PostgreSQL's statement_timeout: SQLSTATE 57014 (query_canceled); SQLite: our progress handler.
        if getattr(cause, "sqlstate", None) == "57014" or str(cause) == "interrupted":
            raise SearchTimedOut() from None
        raise


@contextmanager
def _sqlite_time_bound() -> Iterator[None]:
    """On SQLite, interrupt a statement that runs past CHAT_SEARCH_TIMEOUT_MS (sqlite3's progress
    handler, called every 10,000 virtual-machine instructions, about a millisecond); on PostgreSQL the
    bound is statement_timeout (_search_ids)."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    deadline = time_monotonic() + settings.CHAT_SEARCH_TIMEOUT_MS / 1000
    raw.set_progress_handler(lambda: time_monotonic() > deadline, 10_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _search_ids(
    *, user_id: int, query: SearchQuery, filters: Filters, order: str, limit: int, offset: int
) -> list[int]:
    if not query.terms:
        return []
    where, where_params = _common_where(user_id, filters)
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            ranked = order == "relevance" and _fts_terms(query)  # bm25 over every match
            if (
                _sqlite_scans_alike(query)
                and not ranked
                and filters.room_slug is None
                and filters.author is None
            ):
                # Terms too short for trigrams (Korean's two-character words) are found only by a
                # scan, 2.2 s at a million messages, and FTS5 returns every match of a common term
                # to be sorted by date: first look among the newest messages, read back by date,
                # where a term in a few percent of messages fills a page. Not within one room or
                # author, whose messages an index finds faster.
                sql, params = _sqlite_recent_scan(query, *_common_where(user_id, filters, by_date=True))
                cursor.execute(sql, [*params, limit, offset])
                rows = cursor.fetchall()
                if len(rows) == limit:
                    return [row[0] for row in rows]
            sql, params = _sqlite(query, order)
            # The match's parameters come before the WHERE clause's in every statement.
            cursor.execute(sql.format(where=where), [*params, *where_params, limit, offset])
            return [row[0] for row in cursor.fetchall()]
    # A bound on each statement of a search; only inside a transaction does SET LOCAL hold.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL statement_timeout = {int(settings.CHAT_SEARCH_TIMEOUT_MS)}")
        if not query.substring:
            return _postgres_words(cursor, query, order, where, where_params, limit, offset)
        sql, params = _postgres_substrings(query)
        cursor.execute(sql.format(where=where), [*params, *where_params, limit, offset])
        return [row[0] for row in cursor.fetchall()]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _common_where(user_id: int, filters: Filters, *, by_date: bool = False) -> tuple[str, list]:
    """The access rule and the filters, as SQL on the message alias `m`. by_date (SQLite): the rule
    is kept off the room_id index (a unary `+`), through which the planner would read every readable
    message and sort them, where reading back by the created_at index stops early."""
    room, membership = _table(Room), _table(Membership)
    public = f"SELECT r.id FROM {room} r WHERE NOT r.is_private"
    member = f"SELECT ms.room_id FROM {membership} ms WHERE ms.user_id = %s"
    if connection.vendor == "postgresql":
        # Two hashed subplans, one probe each per row: as one IN (... UNION ...) PostgreSQL joined
        # the room ids in a nested loop, 10 ms of the 13 of ranking a common word's newest matches.
        rule = f"(m.room_id IN ({public}) OR m.room_id IN ({member}))"
    else:
        # SQLite would serve the OR form from the room_id index, room by room (MULTI-INDEX OR).
        rule = f"{'+' if by_date else ''}m.room_id IN ({public} UNION {member})"
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


def _postgres_substrings(query: SearchQuery) -> tuple[str, list]:
    """Korean, Japanese and Chinese terms as substrings, newest first (pg_trgm and bigram indexes)."""
    message = _table(Message)
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
    params = ([sorted(paired)] if paired else []) + [_like_pattern(t) for t in (*scanned, *query.excluded)]
    sql = (
        f"SELECT m.id FROM {message} m WHERE {match} AND {{where}} "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
    )
    return sql, params


def _postgres_words(
    cursor: CursorWrapper,
    query: SearchQuery,
    order: str,
    where: str,
    where_params: list,
    limit: int,
    offset: int,
) -> list[int]:
    """A page of the word path (websearch_to_tsquery): one statement, or for a phrase up to three.

    A phrase's words come together (`see you tomorrow`), but the planner multiplies their
    frequencies as if independent: it expected 117 matches of a phrase that had 6,500 at a million
    messages (0.65%), so it read and rechecked every one of them through the GIN index (which keeps
    no word positions), 7,000 heap pages, where reading back by date finds a page after about 3,000
    rows. So a phrase first reads its matches among the newest RECENT_PROBE readable messages
    (back by date, stopping at as many as it needs). If what it needs is among them, it is read
    from them; if their rate of matches says that reading further back finds it within
    READ_BACK_MAX messages, that is tried; otherwise (a rare phrase, or reading back fell short)
    the planner's plan runs, as it does for every other query. The same rows whichever runs: once
    there are enough, the newest matches among the newest N messages are the newest matches.
    """
    # relevance ranks the newest CHAT_SEARCH_RANKED matches (and its pages end there), not all: no
    # index orders by ts_rank, and ranking costs finding them: 1,051 matches of a word in 1.4% of
    # messages were 75,000 messages read back by date (or 14,000 heap pages through the GIN index).
    needed = settings.CHAT_SEARCH_RANKED if order == "relevance" else offset + limit
    if offset >= needed:
        return []
    if any(" " in term for term in query.terms):
        recent, full = _pg_page(cursor, "newest", query, where, where_params, RECENT_PROBE, needed, needed, 0)
        if full:  # the page (or relevance's window) is among the newest messages
            if order == "relevance":
                return _pg_page(
                    cursor, order, query, where, where_params, RECENT_PROBE, needed, limit, offset
                )[0]
            return recent[offset:]
        if recent and needed * RECENT_PROBE / len(recent) <= READ_BACK_MAX:
            ids, full = _pg_page(
                cursor, order, query, where, where_params, READ_BACK_MAX, needed, limit, offset
            )
            if full:
                return ids
    return _pg_page(cursor, order, query, where, where_params, None, needed, limit, offset)[0]


# A phrase's first look back by date, and the most it then reads back by date to fill a page or
# relevance's window (a message read back costs about a microsecond, more when not in memory).
RECENT_PROBE = 5_000
READ_BACK_MAX = 20_000


def _pg_page(
    cursor: CursorWrapper,
    order: str,
    query: SearchQuery,
    where: str,
    where_params: list,
    recent: int | None,
    needed: int,
    limit: int,
    offset: int,
) -> tuple[list[int], bool]:
    """The ids of a page (see _pg_statement), and whether it is complete: always when read from all
    the messages; from the newest `recent`, only a full page (newest) or a full window (relevance)."""
    sql, params = _pg_statement(order, query, where, where_params, recent, needed)
    cursor.execute(sql, [*params, limit, offset])
    rows = cursor.fetchall()
    ids = [row[0] for row in rows]
    if recent is None:
        return ids, True
    # Each row of relevance carries the size of the window it ranked.
    return ids, (rows[0][1] >= needed if rows else False) if order == "relevance" else len(rows) == limit


def _pg_statement(
    order: str, query: SearchQuery, where: str, where_params: list, recent: int | None, needed: int
) -> tuple[str, list]:
    """SQL and parameters (LIMIT's and OFFSET's to add) of a page of the word path's matches among
    all the readable messages (recent None: the planner picks the GIN index or reading back by date)
    or among the newest `recent` (read back by date). "relevance" ranks the newest `needed` matches,
    each row with how many there were; "newest" pages through them all."""
    message = _table(Message)
    columns = "m.id, m.created_at, m.search_vector, q" if order == "relevance" else "m.id"
    if recent is None:
        matches = (
            f"SELECT {columns} FROM {message} m, websearch_to_tsquery('simple', %s) q "
            f"WHERE m.search_vector @@ q AND {where} ORDER BY m.created_at DESC, m.id DESC"
        )
        params = [query.text, *where_params]
    else:
        # A subquery with a LIMIT is not flattened into the outer one: it reads back by date (in the
        # created_at index's order: no sort), the match is tested on each message it yields, and
        # reading stops once the outer LIMIT is met. WITH TIES: the newest `recent` messages and
        # every one as old as the last of them, so that no match the outer order puts before one
        # of these (created_at, then id) is left out.
        matches = (
            f"SELECT {columns} FROM (SELECT m.id, m.created_at, m.search_vector FROM {message} m "
            f"WHERE {where} ORDER BY m.created_at DESC FETCH FIRST {int(recent)} ROWS WITH TIES) m, "
            "websearch_to_tsquery('simple', %s) q WHERE m.search_vector @@ q "
            "ORDER BY m.created_at DESC, m.id DESC"
        )
        params = [*where_params, query.text]
    if order == "relevance":
        sql = (
            f"SELECT c.id, count(*) OVER () FROM ({matches} LIMIT {int(needed)}) c "
            "ORDER BY ts_rank(c.search_vector, c.q) DESC, c.created_at DESC, c.id DESC LIMIT %s OFFSET %s"
        )
        return sql, params
    return f"{matches} LIMIT %s OFFSET %s", params


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


def _fts_terms(query: SearchQuery) -> list[str]:
    """The terms FTS5's trigram index finds (three characters or more)."""
    return [t for t in query.terms if len(t) >= TRIGRAM]


def _caseless(term: str) -> bool:
    """Whether no character of the term has case (Hangul, kana, Han, digits): FTS5's trigram match
    of such a term, case-insensitive, is then exactly `instr` on the body."""
    return all(c.lower() == c == c.upper() for c in term)


def _sqlite_scans_alike(query: SearchQuery) -> bool:
    """Whether a scan (instr) matches exactly what the FTS5 statement does: every term FTS5 would
    match is caseless (an `instr` on lower() folds ASCII only, FTS5 all of Unicode)."""
    return all(_caseless(t) for t in _fts_terms(query))


def _sqlite_scan(query: SearchQuery) -> tuple[list[str], list]:
    """The conditions (and their parameters) that the terms FTS5 cannot index and the excluded
    terms are checked with, on each message: instr on lower() (ASCII case folding, as SQLite's
    lower() has; Hangul has no case)."""
    short = [t for t in query.terms if len(t) < TRIGRAM]
    scan = ["instr(lower(m.body), lower(%s)) > 0"] * len(short) + [
        "instr(lower(m.body), lower(%s)) = 0"
    ] * len(query.excluded)
    return scan, [*short, *query.excluded]


# The newest readable messages a scan reads back by date before it reads them all (SQLite).
SQLITE_RECENT_SCAN = 5_000


def _sqlite_recent_scan(query: SearchQuery, where: str, where_params: list) -> tuple[str, list]:
    """A page of the query's matches, by a scan, among the newest SQLITE_RECENT_SCAN readable
    messages, newest first: if it is full, it is the page (the newest matches among the newest
    messages are the newest matches)."""
    scan, scan_params = _sqlite_scan(query)
    fts = _fts_terms(query)  # caseless (_sqlite_scans_alike)
    scan, scan_params = ["instr(m.body, %s) > 0"] * len(fts) + scan, [*fts, *scan_params]
    message = _table(Message)
    # A subquery with a LIMIT is not flattened into one with a WHERE clause: the newest messages
    # come from the created_at index (see _common_where's by_date), and the scan tests only those.
    sql = (
        f"SELECT m.id FROM (SELECT m.id, m.created_at, m.body FROM {message} m WHERE {where} "
        f"ORDER BY m.created_at DESC, m.id DESC LIMIT {int(SQLITE_RECENT_SCAN)}) m WHERE "
        + " AND ".join(scan)
        + " ORDER BY m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
    )
    return sql, [*where_params, *scan_params]


def _sqlite(query: SearchQuery, order: str) -> tuple[str, list]:
    message = _table(Message)
    indexed = _fts_terms(query)
    scan, scan_params = _sqlite_scan(query)
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
