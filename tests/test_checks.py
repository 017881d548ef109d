"""The repair loop's bulk re-checks (chat/domain/checks.py): one statement each, right answers."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from chat.domain import checks, rooms, services

pytestmark = pytest.mark.django_db


def test_the_room_state_says_who_of_the_users_asked_about_may_read_each_room_in_one_query(
    alice, make_user, django_assert_num_queries
):
    bob, carol = make_user("bob"), make_user("carol")
    public = rooms.room_create(creator=alice, title="Open")
    rooms.room_member_add(
        room_slug=public.slug, actor=None, username=bob.username, as_admin=True
    )  # a membership of a public room changes nothing
    secret = rooms.room_create(creator=alice, title="Secret", is_private=True)
    rooms.room_member_add(room_slug=secret.slug, actor=None, username=carol.username, as_admin=True)
    elsewhere = rooms.room_create(creator=bob, title="Elsewhere", is_private=True)  # not asked about
    services.message_create(room=secret, author=alice, body="hi", client_msg_id="c1")
    with django_assert_num_queries(1):
        state = checks.rooms_repair_state(
            room_ids=[public.pk, secret.pk, 999], user_ids=[alice.pk, bob.pk, carol.pk]
        )
    assert set(state) == {public.pk, secret.pk}  # no room 999, nothing of the room not asked about
    assert (state[secret.pk].last_seq, state[secret.pk].is_private) == (
        2,
        True,
    )  # the system line, the message
    assert state[secret.pk].member_ids == {alice.pk, carol.pk}
    assert [state[secret.pk].readable_by(u.pk) for u in (alice, bob, carol)] == [True, False, True]
    assert state[public.pk].member_ids == set()
    assert all(state[public.pk].readable_by(u.pk) for u in (alice, bob, carol))
    assert elsewhere.pk not in state


def test_the_room_state_of_no_users_still_gives_every_rooms_head(alice):
    room = rooms.room_create(creator=alice, title="Open")
    services.message_create(room=room, author=alice, body="hi", client_msg_id="c1")
    assert checks.rooms_repair_state(room_ids=[room.pk], user_ids=[]) == {
        room.pk: checks.RoomState(last_seq=1, is_private=False, member_ids=frozenset())
    }


def test_the_sockets_check_reads_users_and_live_sessions_in_one_query(
    alice, make_user, django_assert_num_queries
):
    bob = make_user("bob")
    keys = []
    for _ in range(3):
        store = SessionStore()
        store.create()
        keys.append(store.session_key)
    Session.objects.filter(session_key=keys[1]).delete()
    Session.objects.filter(session_key=keys[2]).update(expire_date=timezone.now() - timedelta(seconds=1))
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)
    with django_assert_num_queries(1):
        users, live = checks.sessions_check(user_ids=[alice.pk, bob.pk, 999], session_keys=keys)
    assert users == {alice.pk: (alice.password, True), bob.pk: (bob.password, False)}
    assert live == {keys[0]}  # not the deleted one, not the expired one


def test_the_sockets_check_of_nothing_reads_nothing_wrong(alice):
    assert checks.sessions_check(user_ids=[], session_keys=[]) == ({}, set())
