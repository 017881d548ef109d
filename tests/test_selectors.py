"""Selectors: what a user may see and read, and history paging."""

import pytest
from django.contrib.auth.models import AnonymousUser

from chat.domain import rooms, selectors, services
from chat.domain.errors import UnknownRoom

pytestmark = pytest.mark.django_db


def test_rooms_visible_are_public_ones_and_own_private_ones(alice, make_user):
    bob = make_user("bob")
    rooms.room_create(creator=alice, title="Open")
    rooms.room_create(creator=alice, title="Alice only", is_private=True)
    shared = rooms.room_create(creator=alice, title="Shared", is_private=True)
    rooms.room_member_add(room_slug=shared.slug, actor=None, username=bob.username, as_admin=True)
    assert [r.slug for r in selectors.rooms_visible_to(user=bob)] == ["open", "shared"]
    assert [r.slug for r in selectors.rooms_visible_to(user=alice)] == ["alice-only", "open", "shared"]
    assert list(selectors.rooms_visible_to(user=AnonymousUser())) == []


def test_a_private_room_is_as_unknown_to_a_non_member_as_a_missing_one(alice, make_user):
    rooms.room_create(creator=alice, title="Secret", is_private=True)
    with pytest.raises(UnknownRoom) as missing:
        selectors.room_get_readable(slug="nope", user=alice)
    with pytest.raises(UnknownRoom) as private:
        selectors.room_get_readable(slug="secret", user=make_user("bob"))
    assert str(private.value) == str(missing.value).replace("nope", "secret")
    inactive = make_user("gone", is_active=False)
    public = rooms.room_create(creator=alice, title="Public")
    assert not selectors.room_can_read(room=public, user=inactive)


def test_history_pages_backwards_with_has_more(alice):
    room = rooms.room_create(creator=alice, title="General")
    for i in range(7):
        services.message_create(room=room, author=alice, body=f"m{i}", client_msg_id=f"c{i}")
    page, has_more = selectors.messages_before(room=room, before_seq=None, limit=3)
    assert ([m.seq for m in page], has_more) == ([5, 6, 7], True)
    page, has_more = selectors.messages_before(room=room, before_seq=5, limit=3)
    assert ([m.seq for m in page], has_more) == ([2, 3, 4], True)
    page, has_more = selectors.messages_before(room=room, before_seq=2, limit=3)
    assert ([m.seq for m in page], has_more) == ([1], False)
    assert [m.seq for m in selectors.messages_between(room=room, after_seq=2, upto_seq=4)] == [3, 4]


def test_a_room_is_readable_by_id_only_by_active_users_with_access(
    alice, make_user, django_assert_num_queries
):
    bob = make_user("bob")
    public = rooms.room_create(creator=alice, title="Open")
    secret = rooms.room_create(creator=alice, title="Secret", is_private=True)
    with django_assert_num_queries(1):
        assert selectors.room_readable(room_id=secret.pk, user=alice)
    assert not selectors.room_readable(room_id=secret.pk, user=bob)
    assert selectors.room_readable(room_id=public.pk, user=bob)
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)  # bob's object still says active
    assert not selectors.room_readable(room_id=public.pk, user=bob)
    assert not selectors.room_readable(room_id=999, user=alice)
    assert not selectors.room_readable(room_id=public.pk, user=AnonymousUser())
