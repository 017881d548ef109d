"""Read positions without a socket: monotonic, clamped, access-checked stores; unread and mention
counts (own messages, deletions, caps); one query for the counts of 100 rooms."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.domain import message_changes, reads, rooms, services, unread
from chat.models import Mention, ReadPosition

pytestmark = pytest.mark.django_db(transaction=True)


def send(room, author, body, n=[0]):  # noqa: B006 - a counter for unique client_msg_ids
    n[0] += 1
    return services.message_create(room=room, author=author, body=body, client_msg_id=f"r{n[0]}")[0]


def state(user, room):
    return unread.read_states_of(user=user, room_ids=[room.pk])[room.pk]


def test_a_position_only_moves_forward_and_stops_at_the_rooms_last_seq(room, alice, bob):
    for i in range(5):
        send(room, alice, f"m{i}")
    assert reads.read_positions_store(positions={(bob.pk, room.pk): 3}) == [(bob.pk, room.pk, 3)]
    assert reads.read_positions_store(positions={(bob.pk, room.pk): 2}) == []  # lower: nothing written
    assert reads.read_positions_store(positions={(bob.pk, room.pk): 3}) == []  # equal: nothing written
    assert ReadPosition.objects.get(user=bob, room=room).seq == 3
    assert reads.read_positions_store(positions={(bob.pk, room.pk): 10**12}) == [(bob.pk, room.pk, 5)]
    assert state(bob, room).read_seq == 5


def test_a_position_is_stored_only_where_the_user_may_read(alice, bob):
    private = rooms.room_create(creator=alice, title="Secret", is_private=True)
    send(private, alice, "hidden")
    assert reads.read_positions_store(positions={(bob.pk, private.pk): 1}) == []
    rooms.room_member_add(room_slug=private.slug, actor=None, username=bob.username, as_admin=True)
    assert reads.read_positions_store(positions={(bob.pk, private.pk): 1}) == [(bob.pk, private.pk, 1)]
    bob.is_active = False
    bob.save()
    send(private, alice, "more")
    assert reads.read_positions_store(positions={(bob.pk, private.pk): 2}) == []


def test_unread_excludes_own_and_deleted_messages_and_counts_mentions(room, alice, bob):
    reads.read_positions_store(positions={(bob.pk, room.pk): 0})  # nothing stored for seq 0
    first = send(room, alice, "hello")
    reads.read_positions_store(positions={(bob.pk, room.pk): first.seq})
    send(room, bob, "my own")
    send(room, alice, "hi @bob")
    gone = send(room, alice, "@bob deleted later")
    send(room, alice, "plain")
    message_changes.message_delete(message=gone, actor=alice)
    got = state(bob, room)
    assert (got.read_seq, got.unread, got.mentions) == (first.seq, 2, 1)
    assert Mention.objects.filter(user=bob).count() == 2  # both stored at send; the deleted one not counted
    reads.read_positions_store(positions={(bob.pk, room.pk): got.last_seq})
    got = state(bob, room)
    assert (got.unread, got.mentions) == (0, 0)


def test_a_room_never_read_counts_from_the_start_if_private_and_not_at_all_if_public(room, alice, bob):
    private = rooms.room_create(creator=alice, title="Invited", is_private=True)
    rooms.room_member_add(room_slug=private.slug, actor=None, username=bob.username, as_admin=True)
    send(private, alice, "welcome")
    send(room, alice, "public chatter")
    send(room, alice, "but @bob is named")
    assert state(bob, private).fields() == {"read_seq": None, "unread": 1, "mentions": 0}
    assert state(bob, room).fields() == {"read_seq": None, "unread": 0, "mentions": 1}


def test_counts_stop_at_the_cap(room, alice, bob, settings):
    settings.CHAT_UNREAD_MAX = 3
    send(room, alice, "start")
    reads.read_positions_store(positions={(bob.pk, room.pk): 1})
    for i in range(5):
        send(room, alice, f"@bob {i}")
    got = state(bob, room)
    assert (got.unread, got.mentions) == (3, 3)


def test_the_counts_of_100_rooms_are_one_query(alice, bob):
    many = [rooms.room_create(creator=alice, title=f"R{i}", limit_rate=False) for i in range(100)]
    for room in many[:10]:
        send(room, alice, "one @bob")
        send(room, alice, "two")
    reads.read_positions_store(positions={(bob.pk, room.pk): 1 for room in many})
    with CaptureQueriesContext(connection) as queries:
        states = unread.read_states_of(user=bob, room_ids=[room.pk for room in many])
    assert len(queries.captured_queries) == 1
    assert [states[r.pk].unread for r in many[:11]] == [1] * 10 + [0]
    assert all(states[r.pk].read_seq == (1 if i < 10 else None) for i, r in enumerate(many))
