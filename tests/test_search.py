"""Search: the query language, highlighting, the access rule and the index, on SQLite (and on
PostgreSQL with DATABASE_URL set; tests/test_search_cluster.py runs both on real nodes)."""

import pytest
from django.db import connection
from django.test import Client

from chat.domain import message_changes, search, selectors, services
from chat.domain import rooms as room_services
from chat.domain.errors import InvalidQuery

pytestmark = pytest.mark.django_db


def found(user, query, **filters):
    return [
        (r["room"], r["body"]) for r in selectors.messages_search(user=user, query=query, **filters).results
    ]


@pytest.fixture
def rooms(alice, bob, make_user):
    """A public room, a private room of alice's that bob was in and left, and a DM-like private room."""
    public = room_services.room_create(creator=alice, title="Lounge")
    secret = room_services.room_create(creator=alice, title="Secret", is_private=True)
    room_services.room_member_add(room_slug=secret.slug, actor=None, username=bob.username, as_admin=True)
    for i, (room, body) in enumerate(
        [
            (public, "The quarterly report is due on Friday"),
            (public, "내일 회의를 합니다"),
            (public, "회의 자료는 공유 폴더에 있어요"),
            (secret, "The secret report: merger with ACME"),
            (secret, "비밀 회의는 3시"),
        ]
    ):
        services.message_create(room=room, author=alice, body=body, client_msg_id=f"seed{i}")
    room_services.room_member_remove(room_slug=secret.slug, actor=None, username=bob.username, as_admin=True)
    return public, secret


def test_english_and_korean_queries_find_readable_messages(alice, rooms):
    assert found(alice, "report") == [
        ("secret", "The secret report: merger with ACME"),
        ("lounge", "The quarterly report is due on Friday"),
    ]
    assert [body for _, body in found(alice, "회의")] == [
        "비밀 회의는 3시",
        "회의 자료는 공유 폴더에 있어요",
        "내일 회의를 합니다",
    ]
    assert found(alice, "회의를") == [("lounge", "내일 회의를 합니다")]
    assert found(alice, '"quarterly report"') == [("lounge", "The quarterly report is due on Friday")]
    assert found(alice, "report -secret") == [("lounge", "The quarterly report is due on Friday")]
    assert found(alice, "REPORT friday") == [("lounge", "The quarterly report is due on Friday")]


def test_two_character_terms_match_inside_words(alice, rooms):
    # On PostgreSQL through the bigram index (migration 0006), too short for trigrams.
    assert found(alice, "료는") == [("lounge", "회의 자료는 공유 폴더에 있어요")]
    assert found(alice, "료는 회의") == [("lounge", "회의 자료는 공유 폴더에 있어요")]
    assert found(alice, "료는 -공유") == []
    assert search._bigrams(("회의", "PR", "주", "a회b")) == ["회의"]
    assert search._bigrams(("会議です",)) == ["です", "会議", "議で"]


def test_a_removed_member_and_an_outsider_never_see_a_private_rooms_messages(bob, make_user, rooms):
    outsider = make_user("carol")
    for user in (bob, outsider):
        assert found(user, "report") == [("lounge", "The quarterly report is due on Friday")]
        assert all(room == "lounge" for room, _ in found(user, "회의"))
        assert found(user, "merger") == []
        assert found(user, "report", room="secret") == []


def test_filters_by_room_author_date_and_order(alice, bob, rooms):
    public, _ = rooms
    services.message_create(room=public, author=bob, body="bob's report report report", client_msg_id="b1")
    assert [b for _, b in found(alice, "report", author="bob")] == ["bob's report report report"]
    assert [r for r, _ in found(alice, "report", room="lounge")] == ["lounge", "lounge"]
    assert found(alice, "report", after=search.search_datetime("2999-01-01", "after")) == []
    assert len(found(alice, "report", before=search.search_datetime("2999-01-01", "before"))) == 3
    ranked = selectors.messages_search(user=alice, query="report", order="relevance").results
    assert ranked[0]["body"] == "bob's report report report"


def test_an_edit_reindexes_and_a_deletion_removes(alice, rooms):
    public, _ = rooms
    message = public.messages.get(body__startswith="The quarterly")
    message_changes.message_edit(
        room_slug="lounge", message_id=message.pk, editor=alice, body="budget 예산 draft"
    )
    assert found(alice, "quarterly") == []
    assert found(alice, "예산") == [("lounge", "budget 예산 draft")]
    assert found(alice, "budget") == [("lounge", "budget 예산 draft")]
    message_changes.message_remove(room_slug="lounge", message_id=message.pk, user=alice)
    assert found(alice, "budget") == []
    assert found(alice, "예산") == []


def test_pages_follow_the_cursor(alice, rooms):
    public, _ = rooms
    for i in range(5):
        services.message_create(room=public, author=alice, body=f"page word {i}", client_msg_id=f"p{i}")
    first = selectors.messages_search(user=alice, query="page word", limit=2)
    second = selectors.messages_search(user=alice, query="page word", limit=2, cursor=first.next)
    third = selectors.messages_search(user=alice, query="page word", limit=2, cursor=second.next)
    bodies = [r["body"] for page in (first, second, third) for r in page.results]
    assert bodies == [f"page word {i}" for i in (4, 3, 2, 1, 0)] and third.next is None


def test_short_terms_read_back_by_date_first_find_the_same_pages(alice, bob, make_user, rooms, monkeypatch):
    """On SQLite a term too short for trigrams, or one without case (Hangul), is first looked for
    among the newest messages; with every size of that window the pages are those of the full scan
    or of FTS5: what each user may read, no deleted message, newest first."""
    public, secret = rooms
    outsider = make_user("carol")
    for i in range(12):
        message, _ = services.message_create(
            room=secret if i % 3 == 0 else public,
            author=alice,
            body=f"회의 {i} 보고서" if i % 2 else f"회의 {i}",
            client_msg_id=f"k{i}",
        )
        if i % 5 == 4:
            message_changes.message_remove(room_slug=message.room.slug, message_id=message.pk, user=alice)

    def pages(user, query="회의 -비밀") -> list[str]:
        bodies, cursor = [], None
        while True:
            page = selectors.messages_search(user=user, query=query, limit=2, cursor=cursor)
            bodies += [r["body"] for r in page.results]
            if page.next is None:
                return bodies
            cursor = page.next

    for user in (alice, bob, outsider):
        monkeypatch.setattr(search, "SQLITE_RECENT_SCAN", 0)  # the full scan alone
        expected = pages(user)
        assert len(expected) == (12 if user == alice else 9)
        assert all("비밀" not in body for body in expected)
        full_text = pages(user, "보고서")  # FTS5's trigrams
        assert len(full_text) == (5 if user == alice else 4)
        for window in (1, 2, 3, 5, 8, 1000):
            monkeypatch.setattr(search, "SQLITE_RECENT_SCAN", window)
            assert pages(user) == expected, (user, window)
            assert pages(user, "보고서") == full_text, (user, window)


@pytest.mark.parametrize(
    "query",
    ['"', "*", "NEAR(", "a AND", '")(*', "col:umn", "^x", "-", "\x00report\x00", "''; DROP TABLE x", "%_\\"],
)
def test_hostile_queries_give_results_or_nothing_never_an_error(alice, rooms, query):
    page = selectors.messages_search(user=alice, query=query)
    assert isinstance(page.results, list)


def test_a_huge_query_is_refused_with_the_documented_code(alice, rooms):
    with pytest.raises(InvalidQuery):
        selectors.messages_search(user=alice, query="x" * 10_000)
    with pytest.raises(InvalidQuery):
        selectors.messages_search(user=alice, query=" ".join(f"w{i}" for i in range(40)))


def test_highlight_escapes_the_body_and_marks_only_matches():
    body = '<script>alert("report")</script> report & <b>REPORT</b>'
    out = search.highlight(body, ("report",))
    assert "<script>" not in out and "<b>" not in out
    assert out.count("<mark>") == 3 and "&lt;script&gt;" in out and "&amp;" in out
    long = "x" * 500 + " needle " + "y" * 500
    snippet = search.highlight(long, ("needle",))
    assert snippet.startswith("…") and snippet.endswith("…") and "<mark>needle</mark>" in snippet


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 triggers")
def test_the_sqlite_index_triggers_exist_after_all_migrations():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'chat_message_fts_%'"
        )
        assert sorted(row[0] for row in cursor.fetchall()) == [
            "chat_message_fts_ad",
            "chat_message_fts_ai",
            "chat_message_fts_au",
        ]


@pytest.mark.django_db(transaction=True)  # the search runs on a thread of its own: committed rows only
def test_the_http_endpoint_answers_json_and_refuses_strangers(alice, rooms):
    assert Client().get("/api/search", {"q": "report"}).status_code == 401
    client = Client()
    client.force_login(alice)
    answer = client.get("/api/search", {"q": "report", "room": "lounge"})
    assert answer.status_code == 200
    assert [r["room"] for r in answer.json()["results"]] == ["lounge"] and answer.json()["next"] is None
    refused = client.get("/api/search", {"q": "x" * 10_000})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_query"
    assert client.get("/api/search", {"q": "report", "room": "a\x00b"}).json()["code"] == "invalid_field"
    assert client.get("/api/search", {"q": "report", "after": "yesterday"}).json()["code"] == "invalid_field"
