"""`users.search {query}` -> `users`: the people a client may pick (the direct-message picker), by
a prefix of their username or display name; its selector's rules and the frame's attacks."""

import pytest
from channels.db import database_sync_to_async

from chat.domain import profile_selectors, profiles

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def names(found: list[dict]) -> list[str]:
    return [user["username"] for user in found]


def test_a_prefix_of_the_username_or_of_a_word_of_the_display_name_matches_case_aside(make_user):
    alice = make_user("alice")
    make_user("Alfred")
    make_user("bob")
    carol = make_user("carol")
    make_user("malice")  # "al" inside, not at the start: no match
    profiles.profile_update(user=carol, display_name="Alma Kim")
    profiles.profile_update(user=alice, display_name="앨리스")
    search = profile_selectors.users_search
    assert names(search(query="al", limit=20)) == ["Alfred", "alice", "carol"]
    assert names(search(query="AL", limit=20)) == ["Alfred", "alice", "carol"]
    assert names(search(query="kim", limit=20)) == ["carol"]  # a later word of the display name
    assert names(search(query="앨", limit=20)) == ["alice"]
    assert names(search(query="zz", limit=20)) == []
    [found] = search(query="carol", limit=20)
    assert found["display_name"] == "Alma Kim" and found["initials"] == "AK"


def test_deactivated_users_are_never_found_and_the_answer_is_bounded(make_user, django_assert_num_queries):
    make_user("gone", is_active=False)
    for i in range(30):
        make_user(f"g{i:02}")
    with django_assert_num_queries(1):
        found = profile_selectors.users_search(query="g", limit=20)
    assert names(found) == [f"g{i:02}" for i in range(20)]


def test_like_wildcards_in_the_query_match_themselves_only(make_user):
    make_user("a_b")
    make_user("axb")
    make_user("100%")
    make_user("1000")
    assert names(profile_selectors.users_search(query="a_", limit=20)) == ["a_b"]
    assert names(profile_selectors.users_search(query="100%", limit=20)) == ["100%"]
    assert names(profile_selectors.users_search(query="%", limit=20)) == []


@pytest.mark.asyncio
async def test_the_frame_answers_users_with_its_ref_and_hides_deactivated_accounts(
    alice, bob, make_user, socket_for
):
    await db(make_user)("bobby")
    await db(make_user)("bobgone", is_active=False)
    await db(profiles.profile_update)(user=bob, display_name="Bob Ross", status_text="painting")
    sock = await socket_for(alice)
    await sock.send({"type": "users.search", "query": "  bob ", "ref": "s1"})
    answer = await sock.recv_type("users")
    assert answer["ref"] == "s1" and names(answer["users"]) == ["bob", "bobby"]
    assert answer["users"][0]["display_name"] == "Bob Ross" and answer["users"][0]["status"] == "painting"
    await sock.send({"type": "users.search", "query": "ross"})
    assert names((await sock.recv_type("users"))["users"]) == ["bob"]
    # Search results are not watched: a later change of bob's profile sends nothing here.
    await db(profiles.profile_update)(user=bob, display_name="Robert")
    await sock.send({"type": "ping"})
    assert (await sock.recv())["type"] == "pong"


@pytest.mark.asyncio
async def test_malformed_huge_and_control_character_queries_get_invalid_field(alice, bob, socket_for):
    sock = await socket_for(alice)
    for bad in [
        {"type": "users.search"},
        {"type": "users.search", "query": None},
        {"type": "users.search", "query": 7},
        {"type": "users.search", "query": ["bob"]},
        {"type": "users.search", "query": {"$gt": ""}},
        {"type": "users.search", "query": ""},
        {"type": "users.search", "query": "   "},
        {"type": "users.search", "query": "b" * 151},
        {"type": "users.search", "query": "x" * 60_000},
        {"type": "users.search", "query": "bob\x00"},
        {"type": "users.search", "query": "bo\nb"},
        {"type": "users.search", "query": "\x1b[2J"},
        {"type": "users.search", "query": "\ud800"},
    ]:
        await sock.send(bad)
        error = await sock.recv_type("error")
        assert error["code"] == "invalid_field", bad
    # Still connected and answering.
    await sock.send({"type": "users.search", "query": "' OR 1=1 --"})
    assert (await sock.recv_type("users"))["users"] == []
    await sock.send({"type": "users.search", "query": "b"})
    assert names((await sock.recv_type("users"))["users"]) == ["bob"]
