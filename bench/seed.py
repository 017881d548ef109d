"""Seeding for the history scenario, run inside a node's Django settings (`manage.py shell -c`)."""

from django.db import connection, transaction
from django.test import override_settings
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


# --- search ------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """Entries separated by spaces; `|` joins the words of a phrase."""
    words = [w.replace("|", " ") for w in text.split()]
    assert len(set(words)) == len(words), "an entry is listed twice"
    return words


# A chat vocabulary, most frequent first: word k of a message is drawn with probability about
# 1 / (k ln V) (Zipf's law, exponent 1). Some entries are short phrases, so that phrase queries find
# real phrases as well as chance neighbours.
ENGLISH = _words(
    "the i you to a it and is that we for this on in can of be have do just so but not what "
    "ok it's at thanks with are will i'm if me my get know was yes there think now need up all "
    "about out like today good one no let's how going sure when see tomorrow meeting "
    "don't should also here time from or go let as more back work we're an yeah did then "
    "check they fix still PR build release deploy server test tests morning review please "
    "could maybe branch issue bug would any some new update done looks after before last "
    "week which team call thing lunch right great sorry problem file data "
    "user users client config version error logs page again first well really see|you|tomorrow "
    "on|my|way pull|request code|review good|morning thank|you sounds|good "
    "has had who why where over into them their our your than only other next very "
    "send sent meet later later|today happy|friday database query index search slow fast "
    "cache memory disk latency p99 benchmark staging production rollback merge merged main "
    "commit push pushed CI pipeline docker image container kubernetes cluster node nodes "
    "redis postgres sqlite django channels socket websocket frontend backend api endpoint "
    "schema migration migrations customer customers report reports quarterly sales budget "
    "plan roadmap design doc docs draft spec ticket tickets sprint standup retro demo slide "
    "slides deadline friday monday tuesday wednesday thursday weekend holiday vacation "
    "office remote home coffee break travel flight hotel invoice contract legal security "
    "password login session token certificate domain dns network outage incident alert "
    "pager oncall dashboard metrics graph chart numbers spreadsheet email calendar invite "
    "room channel thread message messages reply mention notification mobile android ios "
    "browser chrome firefox safari screenshot video recording audio mic camera headphones "
    "printer laptop keyboard monitor battery charger cable adapter wifi vpn proxy firewall "
    "refactor cleanup typo lint format style naming comment comments readme changelog "
    "license dependency dependencies upgrade downgrade patch hotfix regression flaky timeout "
    "retry backoff queue worker workers cron scheduler job jobs batch stream kafka topic "
    "partition replica leader follower failover backup restore snapshot archive export "
    "import upload download attachment thumbnail preview render template translation "
    "locale korean english japanese accessibility contrast focus screen reader"
)
# Korean: words with the particles they take in a sentence (회의 / 회의를 / 회의에서), so a search
# for a word must match it inside longer words.
KOREAN = _words(
    "네 저는 제가 우리 오늘 내일 지금 회의 회의를 회의에서 회의는 확인 확인했습니다 감사합니다 "
    "보고서 보고서를 보고서가 일정 일정을 프로젝트 프로젝트가 배포 배포를 서버 서버가 문제 "
    "문제가 수정 수정했습니다 코드 코드를 리뷰 리뷰를 부탁드립니다 나중에 점심 점심은 시간 "
    "시간이 괜찮아요 좋아요 어디 어디에서 파일 파일을 공유 공유해 주세요 테스트 테스트가 "
    "실패했어요 성공 고객 고객이 요청 요청을 다음 주 금요일 월요일에 회의실 회의실에서 발표 "
    "발표|자료 자료를 질문 질문이 있습니다 없습니다 했어요 할게요 그럼 먼저 같이 잠깐 오전 "
    "오후에 퇴근 출근 휴가 휴가를 데이터베이스 검색 검색이 느려요 빨라요 분기 매출 예산 계획"
)
# Words no message has more than about a hundred times: each word of a message is one of these,
# uniformly, with probability 1/1000.
RARE = _words(
    "zeppelin quokka marzipan obsidian xylophone kumquat fjord haiku tundra sphinx walrus "
    "gondola origami saffron platypus bonsai nebula yodel igloo tapioca"
)
WORD_BYTES = 40  # each entry is padded to this many bytes of UTF-8, so that word k is one slice
MAX_WORDS = 14  # a message has 3 words, then each further slot holds a word with probability 0.4
SEARCH_ROOMS = 100  # messages go round the rooms; every fifth room is private
SEARCH_AUTHORS = 50


def _padded(words: list[str]) -> bytes:
    entries = [w.encode() for w in words]
    assert all(len(e) <= WORD_BYTES for e in entries)
    return b"".join(e.ljust(WORD_BYTES) for e in entries)


def seed_search(username: str, rows: int, *, member_of_private: int = 5) -> dict:
    """Seed `rows` messages of varied English and Korean text over SEARCH_ROOMS rooms, one SQL
    statement for the messages, and make `username` a member of `member_of_private` private rooms
    (of SEARCH_ROOMS // 5), so a search reads through the access rule. Returns the room slugs.

    Message i is in room i % SEARCH_ROOMS (seqs 1, 2, ... in each), by author i % SEARCH_AUTHORS,
    written 30 s after message i - 1 (the newest is now); a fifth of them are Korean. The search
    index is kept by the database itself: SQLite's FTS5 triggers, PostgreSQL's generated column.
    """
    from django.contrib.auth import get_user_model

    from chat.domain import rooms
    from chat.models import Membership, Room

    user_model = get_user_model()
    searcher = user_model.objects.get(username=username)
    user_model.objects.bulk_create(
        [user_model(username=f"searchauthor{i}", password="!") for i in range(SEARCH_AUTHORS)]
    )
    slugs = []
    for r in range(SEARCH_ROOMS):
        private = r % 5 == 4
        rooms.room_create(
            creator=None, title=f"Search {r}", slug=f"search-{r}", is_private=private, limit_rate=False
        )
        slugs.append(f"search-{r}")
    private_rooms = [slug for r, slug in enumerate(slugs) if r % 5 == 4]
    rooms = Room.objects.filter(slug__in=private_rooms[:member_of_private])
    Membership.objects.bulk_create([Membership(room=room, user=searcher) for room in rooms])

    postgres = connection.vendor == "postgresql"
    if postgres:
        numbers = "generate_series(1, %s) AS n(i)"
        uniform = "random()"
        created = "%s::timestamptz - (%s - n.i) * interval '30 seconds'"
    else:
        numbers = "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) SELECT i FROM n) AS n"
        uniform = "((abs(random()) %% 1048576) / 1048576.0)"
        created = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || ((%s - n.i) * 30) || ' seconds')"

    def entry(table: str, index: str) -> str:
        """Entry `index` (from 0) of a padded table, a bytea / blob parameter."""
        if postgres:
            return f"rtrim(convert_from(substring({table} FROM ({index}) * {WORD_BYTES} + 1 FOR {WORD_BYTES}), 'UTF8'))"
        return f"rtrim(CAST(substr({table}, ({index}) * {WORD_BYTES} + 1, {WORD_BYTES}) AS TEXT))"

    # Zipf: rank floor((V + 1) ** u) - 1 from 0, for u uniform in [0, 1).
    korean = f"((n.i * 7 + n.i / {SEARCH_ROOMS}) %% 5 = 0)"

    def word() -> str:
        zipf_en = entry("v.en", f"CAST(floor(power({len(ENGLISH) + 1}, {uniform})) AS INTEGER) - 1")
        zipf_ko = entry("v.ko", f"CAST(floor(power({len(KOREAN) + 1}, {uniform})) AS INTEGER) - 1")
        rare = entry("v.rare", f"CAST(floor({uniform} * {len(RARE)}) AS INTEGER)")
        return f"CASE WHEN {uniform} < 0.001 THEN {rare} WHEN {korean} THEN {zipf_ko} ELSE {zipf_en} END"

    parts = [word() for _ in range(3)] + [
        f"CASE WHEN {uniform} < 0.4 THEN ' ' || {word()} ELSE '' END" for _ in range(MAX_WORDS - 3)
    ]
    body = f"{parts[0]} || ' ' || {parts[1]} || ' ' || {parts[2]} || " + " || ".join(parts[3:])
    blob = "CAST(%s AS bytea)" if postgres else "CAST(%s AS BLOB)"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = (
        f"WITH v AS (SELECT {blob} AS en, {blob} AS ko, {blob} AS rare), "
        f"b AS MATERIALIZED (SELECT n.i, {body} AS body FROM {numbers}, v) "
        "INSERT INTO chat_message (room_id, seq, author_id, body, body_html, created_at, client_msg_id, "
        "reply_count) "
        f"SELECT r.id, (b.i - 1) / {SEARCH_ROOMS} + 1, u.id, b.body, '<p>' || b.body || '</p>', "
        f"{created.replace('n.i', 'b.i')}, 'search-' || b.i, 0 "
        f"FROM b JOIN chat_room r ON r.slug = 'search-' || (b.i %% {SEARCH_ROOMS}) "
        f"JOIN auth_user u ON u.username = 'searchauthor' || (b.i %% {SEARCH_AUTHORS})"
    )
    params = [_padded(ENGLISH), _padded(KOREAN), _padded(RARE), rows, now, rows]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(
            "UPDATE chat_room SET last_seq = (SELECT count(*) FROM chat_message m WHERE m.room_id = chat_room.id) "
            "WHERE slug LIKE %s",
            ["search-%"],
        )
    if postgres:
        # What autovacuum does after so many inserts, here before anything is measured: table
        # statistics for the planner, and the GIN index's pending list merged into the index.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE chat_message")
    return {"rooms": slugs, "private": private_rooms, "member_of": private_rooms[:member_of_private]}


def search_match_counts(username: str, queries: list[str]) -> dict[str, int]:
    """How many messages the user may read match each query (the selector's SQL, unlimited)."""
    from django.contrib.auth import get_user_model

    from chat.domain import search

    user = get_user_model().objects.get(username=username)
    with override_settings(CHAT_SEARCH_TIMEOUT_MS=600_000):  # all of half a million matches, sorted
        return {
            q: len(
                search.search_ids(
                    user_id=user.pk,
                    query=search.query_parse(q),
                    filters=search.Filters(),
                    order="newest",
                    limit=10**8,
                    offset=0,
                )
            )  # fmt: skip
            for q in queries
        }
