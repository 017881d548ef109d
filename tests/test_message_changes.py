"""Message changes (chat/domain/message_changes.py): edit, delete, reactions and replies, each under
the room's next seq, with the rules for who may change what."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.domain import message_changes, rooms, selectors, services
from chat.domain.errors import (
    EditWindowClosed,
    EmptyBody,
    InvalidEmoji,
    MessageDeleted,
    NotAllowed,
    RateLimited,
    TooManyReactions,
    UnknownMessage,
    UnknownRoom,
)
from chat.models import Message, MessageChange, MessageEdit, Reaction, Room
from chat.realtime import events, groups

pytestmark = pytest.mark.django_db


def send(room, author, body, cid, reply_to=None):
    request = services.MessageRequest(
        room_slug=room.slug, author=author, body=body, client_msg_id=cid, reply_to=reply_to
    )
    [result] = services.messages_create_batch([request])
    if isinstance(result, Exception):
        raise result
    return result[0]


def last_seq(room) -> int:
    return Room.objects.get(pk=room.pk).last_seq


def test_an_edit_takes_the_next_seq_and_keeps_the_old_body(room, alice):
    message = send(room, alice, "helo", "a")
    change = message_changes.message_edit(
        room_slug=room.slug, message_id=message.pk, editor=alice, body="hello"
    )
    stored = Message.objects.get(pk=message.pk)
    assert (change.seq, change.kind, last_seq(room)) == (2, "edited", 2)
    assert stored.body == "hello" and stored.edited_at is not None
    assert list(MessageEdit.objects.filter(message=message).values_list("body", flat=True)) == ["helo"]


def test_an_edit_to_the_same_body_changes_nothing_and_takes_no_seq(room, alice):
    message = send(room, alice, "same", "a")
    assert (
        message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=alice, body="same")
        is None
    )
    assert last_seq(room) == 1 and not MessageEdit.objects.exists()


def test_nobody_edits_or_deletes_another_users_message(room, alice, bob):
    message = send(room, alice, "mine", "a")
    with pytest.raises(NotAllowed):
        message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=bob, body="yours")
    with pytest.raises(NotAllowed):
        message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=bob)
    assert Message.objects.get(pk=message.pk).body == "mine" and last_seq(room) == 1


def test_an_admin_edits_and_deletes_any_message_at_any_time(room, alice, make_user):
    admin = make_user("root", is_staff=True)
    message = send(room, alice, "rude", "a")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=30))
    message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=admin, body="[removed]")
    change = message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=admin)
    assert change.seq == 3 and Message.objects.get(pk=message.pk).is_deleted


def test_an_author_edits_only_within_the_edit_window(room, bob, settings):
    settings.CHAT_EDIT_WINDOW = 60
    message = send(room, bob, "old", "a")  # bob: no role in the room (alice owns it)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    with pytest.raises(EditWindowClosed):
        message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=bob, body="new")
    # ... but may still delete it.
    assert message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=bob).seq == 2


def test_a_moderator_edits_their_own_message_after_the_window_but_no_one_else_s(room, alice, bob, settings):
    settings.CHAT_EDIT_WINDOW = 60
    rooms.room_member_add(room_slug=room.slug, actor=alice, username=bob.username)
    rooms.room_role_set(room_slug=room.slug, actor=alice, username=bob.username, role="moderator")
    own, others = send(room, bob, "old", "b"), send(room, alice, "alice's", "a")
    Message.objects.filter(pk__in=[own.pk, others.pk]).update(created_at=timezone.now() - timedelta(days=3))
    assert message_changes.message_edit(room_slug=room.slug, message_id=own.pk, editor=bob, body="new")
    with pytest.raises(NotAllowed):  # deleting another's message is a moderator's; editing it is not
        message_changes.message_edit(room_slug=room.slug, message_id=others.pk, editor=bob, body="hers")
    rooms.room_role_set(room_slug=room.slug, actor=alice, username=bob.username, role="member")
    with pytest.raises(EditWindowClosed):  # demoted: the window applies again
        message_changes.message_edit(room_slug=room.slug, message_id=own.pk, editor=bob, body="newer")
    assert Message.objects.get(pk=own.pk).body == "new"


def test_the_edit_history_is_for_the_author_the_room_s_moderators_and_admins(alice, bob, make_user):
    mod, member, outsider = make_user("mod"), make_user("member"), make_user("outsider")
    admin = make_user("root", is_staff=True)
    club = rooms.room_create(creator=alice, title="Club", is_private=True)
    # The admin reads the private room as a plain member: admins see earlier versions where they may
    # read (no frame reaches a private room they are not in: docs/rooms.md).
    for user, role in ((bob, "member"), (mod, "moderator"), (member, "member"), (admin, "member")):
        rooms.room_member_add(room_slug=club.slug, actor=alice, username=user.username)
        if role != "member":
            rooms.room_role_set(room_slug=club.slug, actor=alice, username=user.username, role=role)
    message = send(club, bob, "first", "b1")
    for body in ("second", "third"):
        message_changes.message_edit(room_slug=club.slug, message_id=message.pk, editor=bob, body=body)

    def history(user, limit=50):
        found, has_more = message_changes.message_edit_history(
            room_slug=club.slug, message_id=message.pk, user=user, limit=limit
        )
        return [(edit.body, edit.editor.username) for edit in found], has_more

    for user in (bob, alice, mod, admin):  # the author, the owner, a moderator, an admin
        assert history(user) == ([("first", "bob"), ("second", "bob")], False)
    assert history(mod, limit=1) == ([("second", "bob")], True)  # the newest, and that more exist
    with pytest.raises(NotAllowed):
        history(member)
    with pytest.raises(UnknownRoom):
        history(outsider)
    rooms.room_member_remove(room_slug=club.slug, actor=alice, username=mod.username)
    with pytest.raises(UnknownRoom):  # removed: as if the room did not exist
        history(mod)
    other = send(rooms.room_create(creator=alice, title="Other"), alice, "elsewhere", "o1")
    with pytest.raises(UnknownMessage):  # a message of another room, named with this room
        message_changes.message_edit_history(room_slug=club.slug, message_id=other.pk, user=alice, limit=50)
    message_changes.message_remove(room_slug=club.slug, message_id=message.pk, user=bob)
    assert history(bob) == ([], False)  # a deletion takes the earlier versions too


def test_an_edit_follows_the_body_rules_of_a_send(room, alice):
    message = send(room, alice, "text", "a")
    with pytest.raises(EmptyBody):
        message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=alice, body="  ")


def test_a_deleted_message_is_blanked_loses_its_reactions_and_cannot_be_edited(room, alice, bob):
    message = send(room, alice, "bye", "a")
    message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="👍")
    message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=alice, body="bye!")
    change = message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=alice)
    stored = Message.objects.get(pk=message.pk)
    assert (change.seq, stored.body, stored.seq) == (4, "", 1)
    assert not Reaction.objects.filter(message=message).exists()
    assert not MessageEdit.objects.filter(message=message).exists()
    assert message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=alice) is None
    with pytest.raises(MessageDeleted):
        message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=alice, body="back")
    with pytest.raises(MessageDeleted):
        message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="👍")


def test_reactions_are_one_per_user_and_emoji(room, alice, bob):
    message = send(room, alice, "lunch?", "a")
    first = message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="🍕")
    again = message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="🍕")
    message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji="🍕")
    assert (first.seq, again, last_seq(room)) == (2, None, 3)
    assert selectors.message_reactions(message_ids=[message.pk])[message.pk] == [
        {"emoji": "🍕", "count": 2, "users": ["bob", "alice"]}
    ]
    assert (
        message_changes.reaction_remove(room_slug=room.slug, message_id=message.pk, user=bob, emoji="🍕").seq
        == 4
    )
    assert (
        message_changes.reaction_remove(room_slug=room.slug, message_id=message.pk, user=bob, emoji="🍕")
        is None
    )
    assert selectors.message_reactions(message_ids=[message.pk])[message.pk][0]["users"] == ["alice"]


@pytest.mark.parametrize("value", ["", "x", "👍👍", "<script>", ":pizza:", "👍 ", "a" * 40, 5, None])
def test_a_reaction_must_be_exactly_one_emoji(room, alice, value):
    message = send(room, alice, "hi", "a")
    with pytest.raises(InvalidEmoji):
        message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji=value)


def test_skin_tones_and_joined_emoji_count_as_one(room, alice):
    message = send(room, alice, "hi", "a")
    for emoji in ("👍🏽", "👩‍💻", "🇰🇷"):
        assert message_changes.reaction_add(
            room_slug=room.slug, message_id=message.pk, user=alice, emoji=emoji
        )


def test_a_message_has_at_most_the_configured_number_of_distinct_reactions(room, alice, bob, settings):
    settings.CHAT_REACTIONS_MAX_DISTINCT = 2
    message = send(room, alice, "vote", "a")
    message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji="👍")
    message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji="👎")
    with pytest.raises(TooManyReactions):
        message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="🤷")
    # An emoji already there may still be added by someone else.
    assert message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="👍")


def test_changes_per_user_are_rate_limited(room, alice, settings):
    settings.CHAT_CHANGE_RATE_LIMIT = 3
    message = send(room, alice, "spam", "a")
    for emoji in ("😀", "😁", "😂"):
        message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji=emoji)
    with pytest.raises(RateLimited):
        message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji="🤣")
    assert last_seq(room) == 4


def test_a_non_member_cannot_change_anything_in_a_private_room(alice, bob):
    private = rooms.room_create(creator=alice, title="Secret", is_private=True)
    message = send(private, alice, "psst", "a")
    for change in (
        lambda: message_changes.reaction_add(
            room_slug=private.slug, message_id=message.pk, user=bob, emoji="👀"
        ),
        lambda: message_changes.message_edit(
            room_slug=private.slug, message_id=message.pk, editor=bob, body="x"
        ),
        lambda: message_changes.message_remove(room_slug=private.slug, message_id=message.pk, user=bob),
        lambda: send(private, bob, "reply", "b", reply_to=message.pk),
    ):
        with pytest.raises(UnknownRoom):
            change()
    assert last_seq(private) == 1 and not Reaction.objects.exists()


def test_a_message_id_of_another_room_is_unknown(room, alice):
    other = rooms.room_create(creator=alice, title="Other")
    message = send(other, alice, "elsewhere", "a")
    with pytest.raises(UnknownMessage):
        message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=alice, emoji="👍")
    with pytest.raises(UnknownMessage):
        send(room, alice, "re", "b", reply_to=message.pk)
    assert last_seq(room) == 0


def test_a_reply_counts_on_its_parent_under_the_next_seq(room, alice, bob):
    parent = send(room, alice, "question", "a")
    reply = send(room, bob, "answer", "b", reply_to=parent.pk)
    stored = Message.objects.get(pk=parent.pk)
    assert (reply.seq, reply.reply_to_id) == (2, parent.pk)
    assert (stored.reply_count, stored.last_reply_at) == (1, reply.created_at)
    change = MessageChange.objects.get(room=room, seq=3)
    assert (change.kind, change.message_id) == ("replies", parent.pk)
    # A reply to a reply goes under the thread's first message.
    nested = send(room, alice, "thanks", "c", reply_to=reply.pk)
    assert nested.reply_to_id == parent.pk and Message.objects.get(pk=parent.pk).reply_count == 2


def test_the_change_stream_lists_every_seq_once_in_order(room, alice, bob):
    first = send(room, alice, "one", "a")
    send(room, bob, "two", "b", reply_to=first.pk)
    message_changes.reaction_add(room_slug=room.slug, message_id=first.pk, user=bob, emoji="👍")
    message_changes.message_edit(room_slug=room.slug, message_id=first.pk, editor=alice, body="one!")
    stream = selectors.room_changes_between(room=room, after_seq=0, upto_seq=last_seq(room))
    assert [(seq, kind) for seq, kind, _ in stream] == [
        (1, "new"), (2, "new"), (3, "replies"), (4, "reactions"), (5, "edited")
    ]  # fmt: skip
    # Every entry shows the message as it is now.
    assert {message.body for _, _, message in stream if message.pk == first.pk} == {"one!"}
    assert [seq for seq, _, _ in selectors.room_changes_between(room=room, after_seq=2, upto_seq=4)] == [3, 4]


def test_the_body_s_html_is_stored_with_it_and_follows_edits_and_deletion(room, alice):
    message = send(room, alice, "**bold** and https://example.org", "a")
    assert Message.objects.get(pk=message.pk).body_html == (
        '<p><strong>bold</strong> and <a href="https://example.org" target="_blank"'
        ' rel="noopener noreferrer nofollow">https://example.org</a></p>'
    )
    message_changes.message_edit(room_slug=room.slug, message_id=message.pk, editor=alice, body="`code`")
    assert Message.objects.get(pk=message.pk).body_html == "<p><code>code</code></p>"
    message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=alice)
    assert Message.objects.get(pk=message.pk).body_html == ""


def test_changes_share_a_batch_with_sends_and_each_rolls_back_alone(room, alice, bob):
    message = send(room, alice, "lunch?", "a")
    Change, Kind = message_changes.ChangeRequest, message_changes.ChangeKind
    results = services.messages_create_batch(
        [
            services.MessageRequest(room_slug=room.slug, author=bob, body="yes", client_msg_id="b"),
            Change(Kind.EDIT, room.slug, message.pk, alice, body="lunch at 12?"),
            Change(Kind.REACTION_ADD, room.slug, message.pk, bob, emoji="🍕"),
            Change(Kind.REACTION_ADD, room.slug, message.pk, bob, emoji="🍕"),  # already there
            Change(Kind.EDIT, room.slug, message.pk, bob, body="mine now"),  # not bob's
            Change(Kind.REACTION_ADD, room.slug, message.pk, bob, emoji="pizza"),  # no emoji
            services.MessageRequest(room_slug=room.slug, author=alice, body="great", client_msg_id="c"),
        ]
    )
    (reply, _), edit, reaction, again, refused, invalid, (last, _) = results
    assert (reply.seq, edit.seq, reaction.seq, last.seq, last_seq(room)) == (2, 3, 4, 5, 5)
    assert again is None and isinstance(refused, NotAllowed) and isinstance(invalid, InvalidEmoji)
    assert Message.objects.get(pk=message.pk).body == "lunch at 12?"
    assert list(MessageChange.objects.filter(room=room).values_list("seq", "kind")) == [
        (3, "edited"),
        (4, "reactions"),
    ]
    assert [seq for seq, _, _ in selectors.room_changes_between(room=room, after_seq=0, upto_seq=5)] == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_a_change_is_announced_from_what_its_transaction_read_and_wrote(
    room, alice, bob, monkeypatch, django_capture_on_commit_callbacks, django_assert_num_queries
):
    published = []
    monkeypatch.setattr(events, "publish", lambda group, event: published.append((group, event)))
    message = send(room, alice, "lunch?", "a")
    message_changes.reaction_add(room_slug=room.slug, message_id=message.pk, user=bob, emoji="🍕")
    with django_capture_on_commit_callbacks() as callbacks:
        change = message_changes.message_edit(
            room_slug=room.slug, message_id=message.pk, editor=alice, body="**lunch**?"
        )
    with django_assert_num_queries(0):  # nothing is read after commit
        for callback in callbacks:
            callback()
    [(group, event)] = published
    stored = Message.objects.select_related("author").get(pk=message.pk)
    reactions = selectors.message_reactions(message_ids=[message.pk])[message.pk]
    expected = events.change_frame(change, stored, room_slug=room.slug, reactions=reactions)
    assert (group, event["seq"]) == (groups.room_group(room.pk), change.seq)
    assert json.loads(event["text"]) == json.loads(events.encode(expected))
    assert json.loads(event["text"])["message"]["reactions"] == [
        {"emoji": "🍕", "count": 1, "users": ["bob"]}
    ]
