"""Services: seq assignment, idempotency, authorization and limits, without any socket."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.domain import message_changes, rooms, services
from chat.domain.errors import (
    BodyTooLong,
    ClientMsgIdConflict,
    EmptyBody,
    InvalidField,
    ReadOnly,
    TooManyRooms,
    UnknownRoom,
)
from chat.models import Message, Room

pytestmark = pytest.mark.django_db(transaction=True)


def test_room_slug_comes_from_the_title_and_stays_unique(alice):
    first = rooms.room_create(creator=alice, title="Team Chat!")
    second = rooms.room_create(creator=alice, title="Team chat")
    assert (first.slug, second.slug) == ("team-chat", "team-chat-2")


def test_a_user_may_create_only_so_many_rooms_per_window_but_staff_and_the_admin_may_create_more(
    alice, make_user, settings
):
    settings.CHAT_ROOM_CREATE_LIMIT = 3
    for i in range(3):
        rooms.room_create(creator=alice, title=f"Mine {i}")
    with pytest.raises(TooManyRooms):
        rooms.room_create(creator=alice, title="One too many")
    assert not Room.objects.filter(title="One too many").exists()
    rooms.room_create(creator=alice, title="Made by the admin for alice", limit_rate=False)
    staff = make_user("staff", is_staff=True)
    for i in range(4):
        rooms.room_create(creator=staff, title=f"Staff {i}")
    Room.objects.filter(creator=alice).update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    rooms.room_create(creator=alice, title="An hour later")  # the window has passed


def test_messages_get_consecutive_seqs(room, alice):
    seqs = [
        services.message_create(room=room, author=alice, body=f"m{i}", client_msg_id=f"c{i}")[0].seq
        for i in range(5)
    ]
    assert seqs == [1, 2, 3, 4, 5]
    assert Room.objects.get(pk=room.pk).last_seq == 5


def test_concurrent_writers_never_collide_and_leave_no_gap(room, make_user):
    writers = [make_user(f"w{n}") for n in range(4)]
    errors: list[BaseException] = []

    def write(user, count: int) -> None:
        try:
            for i in range(count):
                services.message_create(
                    room=room, author=user, body=f"{user.username} {i}", client_msg_id=f"k{i}"
                )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(user, 25)) for user in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = sorted(Message.objects.filter(room=room).values_list("seq", flat=True))
    assert seqs == list(range(1, 101))


def test_sending_the_same_client_msg_id_again_stores_one_row(room, alice):
    first, created = services.message_create(room=room, author=alice, body="hi", client_msg_id="same")
    again, created_again = services.message_create(room=room, author=alice, body="hi", client_msg_id="same")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and again.seq == first.seq
    assert Message.objects.filter(room=room).count() == 1


def test_reusing_a_client_msg_id_in_another_room_is_a_conflict(room, alice):
    other = rooms.room_create(creator=alice, title="Other")
    services.message_create(room=room, author=alice, body="hi", client_msg_id="dup")
    with pytest.raises(ClientMsgIdConflict):
        services.message_create(room=other, author=alice, body="hi", client_msg_id="dup")


@pytest.mark.parametrize(
    ("body", "client_msg_id", "error"),
    [
        ("   \n\t", "c1", EmptyBody),
        ("x" * 4001, "c1", BodyTooLong),
        ("ok", "", InvalidField),
        ("ok", "has space", InvalidField),
        ("ok", "x" * 65, InvalidField),
        ("ok", "c1\n", InvalidField),
        ("ok", "x" * 64 + "\n", InvalidField),
        ("a\x00b", "c1", InvalidField),
        ("\ud800", "c1", InvalidField),
        ("a\x7fb", "c1", InvalidField),
        ("a\x9fb", "c1", InvalidField),
    ],
)
def test_bad_messages_are_refused_and_write_nothing(room, alice, body, client_msg_id, error):
    with pytest.raises(error):
        services.message_create(room=room, author=alice, body=body, client_msg_id=client_msg_id)
    assert Message.objects.count() == 0
    assert Room.objects.get(pk=room.pk).last_seq == 0


def test_newlines_tabs_and_any_script_are_stored_as_sent(room, alice):
    body = "line one\n\tline two: 가나다 😀 ü \u200b \ufeff"
    message, _ = services.message_create(room=room, author=alice, body=body, client_msg_id="c")
    assert Message.objects.get(pk=message.pk).body == body


def test_a_body_of_exactly_the_limit_is_accepted(room, alice):
    message, _ = services.message_create(room=room, author=alice, body="x" * 4000, client_msg_id="c")
    assert len(message.body) == 4000


def test_non_members_cannot_write_to_a_private_room(alice, make_user):
    private = rooms.room_create(creator=alice, title="Secret", is_private=True)
    bob = make_user("bob")
    with pytest.raises(UnknownRoom):  # as if it did not exist (no existence oracle)
        services.message_create(room=private, author=bob, body="hi", client_msg_id="c")
    rooms.room_member_add(room_slug=private.slug, actor=None, username=bob.username, as_admin=True)
    # seq 1 is the system line "bob was added"
    assert services.message_create(room=private, author=bob, body="hi", client_msg_id="c")[0].seq == 2


def test_archived_rooms_are_read_only_and_the_seq_is_not_consumed(room, alice):
    rooms.room_set_archived(room_slug=room.slug, actor=None, archived=True, as_admin=True)
    with pytest.raises(ReadOnly):
        services.message_create(room=room, author=alice, body="hi", client_msg_id="c")
    assert Room.objects.get(pk=room.pk).last_seq == 1  # the system line "archived" only
    rooms.room_set_archived(room_slug=room.slug, actor=None, archived=False, as_admin=True)
    assert services.message_create(room=room, author=alice, body="hi", client_msg_id="c")[0].seq == 3


def test_mentions_find_readers_but_not_the_author_or_outsiders(alice, make_user):
    bob, carol = make_user("bob"), make_user("carol")
    private = rooms.room_create(creator=alice, title="Secret", is_private=True)
    rooms.room_member_add(room_slug=private.slug, actor=None, username=bob.username, as_admin=True)
    body = "hey @bob and @carol and @alice, mail me at x@bob. @nobody"
    assert services._mentioned_readers(room=private, author=alice, body=body) == [bob.pk]
    public = rooms.room_create(creator=alice, title="Open")
    assert sorted(services._mentioned_readers(room=public, author=alice, body=body)) == sorted(
        [bob.pk, carol.pk]
    )


def test_deleting_a_message_keeps_its_seq_and_blanks_the_body(room, alice):
    message, _ = services.message_create(room=room, author=alice, body="oops", client_msg_id="c")
    message_changes.message_delete(message=message)
    stored = Message.objects.get(pk=message.pk)
    assert (stored.seq, stored.body, stored.is_deleted) == (1, "", True)
    assert Room.objects.get(pk=room.pk).last_seq == 2  # the deletion is change 2


def test_a_retry_after_the_room_was_archived_still_acks_the_stored_message(room, alice):
    first, _ = services.message_create(room=room, author=alice, body="hi", client_msg_id="before")
    rooms.room_set_archived(room_slug=room.slug, actor=None, archived=True, as_admin=True)
    again, created = services.message_create(room=room, author=alice, body="hi", client_msg_id="before")
    assert (again.pk, created) == (first.pk, False)


def test_a_batch_commits_the_good_sends_and_refuses_the_bad_ones_alone(room, alice, make_user):
    secret = rooms.room_create(creator=alice, title="Secret", is_private=True)
    bob = make_user("bob")
    send = services.MessageRequest
    results = services.messages_create_batch(
        [
            send(room_slug="general", author=alice, body="one", client_msg_id="b1"),
            send(room_slug="general", author=alice, body="  ", client_msg_id="b2"),
            send(room_slug="secret", author=bob, body="let me in", client_msg_id="b3"),
            send(room_slug="general", author=alice, body="one again", client_msg_id="b1"),
            send(room_slug="nowhere", author=alice, body="?", client_msg_id="b4"),
            send(room_slug="general", author=bob, body="two", client_msg_id="b5"),
        ]
    )
    kinds = [type(r).__name__ if isinstance(r, Exception) else (r[0].seq, r[1]) for r in results]
    assert kinds == [(1, True), "EmptyBody", "UnknownRoom", (1, False), "UnknownRoom", (2, True)]
    assert list(Message.objects.filter(room=room).values_list("seq", "body")) == [(1, "one"), (2, "two")]
    assert Message.objects.filter(room=secret).count() == 0


def test_a_send_takes_its_seq_and_its_room_in_one_statement(alice):
    # The seq bump (UPDATE ... RETURNING the room) is the room's look-up: no SELECT of a room, and a
    # send alone has no savepoint. A batch of several has one savepoint per send. The one SELECT
    # per send is the rate limit's count of the author's recent messages.
    slugs = [rooms.room_create(creator=alice, title=f"Batch {i}").slug for i in range(3)]
    send = services.MessageRequest

    def statements(requests):
        with CaptureQueriesContext(connection) as queries:
            results = services.messages_create_batch(requests)
        assert all(created for _, created in results)
        return [
            q["sql"].split()[0] + (" room" if '"chat_room"' in q["sql"] else " message")
            for q in queries
            if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
        ]

    one_send = ["SELECT message", "UPDATE room", "INSERT message"]
    assert statements([send(room_slug=slugs[0], author=alice, body="hi", client_msg_id="one")]) == one_send
    with CaptureQueriesContext(connection) as queries:
        services.messages_create_batch(
            [send(room_slug=s, author=alice, body="hi", client_msg_id=f"q{s}") for s in slugs]
        )
    kinds = [q["sql"].split()[0] for q in queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    assert kinds == ["SAVEPOINT", "SELECT", "UPDATE", "INSERT", "RELEASE"] * 3


def test_a_batch_takes_its_rooms_in_slug_order_and_answers_in_request_order(alice):
    # Rooms are locked in one order on every node (no deadlock between two nodes' batches); the
    # answers and each room's seqs still follow the order the sends came in.
    for title in ("Bravo", "Alpha"):
        rooms.room_create(creator=alice, title=title)
    send = services.MessageRequest
    with CaptureQueriesContext(connection) as queries:
        results = services.messages_create_batch(
            [
                send(room_slug="bravo", author=alice, body="b1", client_msg_id="b1"),
                send(room_slug="alpha", author=alice, body="a1", client_msg_id="a1"),
                send(room_slug="bravo", author=alice, body="b2", client_msg_id="b2"),
            ]
        )
    assert [(m.room.slug, m.seq, m.body) for m, _ in results] == [
        ("bravo", 1, "b1"),
        ("alpha", 1, "a1"),
        ("bravo", 2, "b2"),
    ]
    locked = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert ["'alpha'" in sql for sql in locked] == [True, False, False], locked


def test_a_created_message_is_the_stored_row_and_saves_like_one(room, alice):
    message, created = services.message_create(room=room, author=alice, body="hi", client_msg_id="row")
    stored = Message.objects.get(pk=message.pk)
    assert created and (stored.seq, stored.body, stored.author_id, stored.created_at) == (
        message.seq,
        "hi",
        alice.pk,
        message.created_at,
    )
    message.body = "edited"
    message.save()  # an UPDATE of that row, not a second INSERT
    assert Message.objects.get(pk=message.pk).body == "edited" and Message.objects.count() == 1


def test_room_ensure_creates_a_public_room_once():
    first = rooms.room_ensure(slug="public", title="Public")
    again = rooms.room_ensure(slug="public", title="Something else")
    assert first.pk == again.pk and not first.is_private and first.title == "Public"
    assert Room.objects.filter(slug="public").count() == 1
