"""Changes to stored messages: edit, delete, reactions, and a reply's mark on its parent.

Every change takes the room's next seq in the same transaction as the change itself, and is
announced after commit on the room's group as a `chat.message` event carrying that seq: live
delivery, gap fills, the repair loop and catch-up treat a change exactly as they treat a new
message (chat/protocol/handlers/delivery.py), so a client that reconnects with `since` gets every
change it missed, once, in order. check -> do -> record -> announce, as in services.py.
"""

import time
from datetime import timedelta
from functools import partial

import emoji as emoji_data
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.domain import attachments, formatting, queries, rooms, selectors
from chat.domain.errors import (
    EditWindowClosed,
    InvalidEmoji,
    MessageDeleted,
    NotAllowed,
    RateLimited,
    ReadOnly,
    TooManyReactions,
    UnknownRoom,
)
from chat.domain.validation import body_validate
from chat.models import Message, MessageChange, MessageEdit, Reaction, Room
from chat.realtime import events, groups

Kind = MessageChange.Kind


# --- checks --------------------------------------------------------------------------


def user_is_admin(user: AbstractBaseUser) -> bool:
    """Admins (staff) moderate every room. Room owners and moderators come with room roles."""
    return bool(user.is_active and (user.is_staff or user.is_superuser))


def message_check_can_change(
    *, message: Message, user: AbstractBaseUser, edit: bool, room: Room | None = None
) -> None:
    """Authors edit their own messages within CHAT_EDIT_WINDOW and delete them at any time;
    admins edit and delete any message at any time; the owners and moderators of `room` delete any
    message there (chat/domain/rooms.py). System lines are nobody's to change."""
    if message.is_deleted:
        raise MessageDeleted()
    if message.kind != "message":
        raise NotAllowed("System lines cannot be changed.")
    if user_is_admin(user):
        return
    if not edit and room is not None and rooms.room_may_delete_any_message(room=room, user=user):
        return
    if message.author_id != user.pk:
        raise NotAllowed("Only the author or an admin may change this message.")
    if edit and timezone.now() - message.created_at > timedelta(seconds=settings.CHAT_EDIT_WINDOW):
        raise EditWindowClosed()


def emoji_validate(value: object) -> str:
    """One emoji (a single grapheme the emoji database knows, with any skin tone), or InvalidEmoji."""
    if not isinstance(value, str) or not 0 < len(value) <= 32 or not emoji_data.purely_emoji(value):
        raise InvalidEmoji()
    if len(emoji_data.emoji_list(value)) != 1:
        raise InvalidEmoji()
    return value


def _check_change_rate(user: AbstractBaseUser) -> None:
    """At most CHAT_CHANGE_RATE_LIMIT edits, deletions and reactions per CHAT_CHANGE_RATE_WINDOW
    seconds per user, counted in the database (so across nodes), inside the change's transaction."""
    limit = settings.CHAT_CHANGE_RATE_LIMIT
    since = timezone.now() - timedelta(seconds=settings.CHAT_CHANGE_RATE_WINDOW)
    if MessageChange.objects.filter(actor=user, created_at__gt=since)[:limit].count() >= limit:
        raise RateLimited("Too many edits and reactions; slow down.")


def _lock_room(*, room_slug: str, user: AbstractBaseUser) -> Room:
    """Take the room's next seq (which locks its row: changes of one room are serialized on every
    node) and check that the user may write there. Must run in a transaction."""
    room = queries.room_take_next_seq(room_slug)
    if room is None:
        raise UnknownRoom(f"No room {room_slug!r}.")
    selectors.room_check_access(room=room, user=user)
    if room.is_archived:
        raise ReadOnly(f"{room.slug!r} is archived.")
    return room


def _record(*, room: Room, message: Message, kind: str, actor: AbstractBaseUser | None) -> MessageChange:
    """Store the change under the room's seq just taken, and announce it after commit."""
    change = MessageChange.objects.create(
        room=room, seq=room.last_seq, message=message, kind=kind, actor=actor
    )
    message.room = room
    transaction.on_commit(partial(_announce_change, change, message), robust=True)
    return change


def _announce_change(change: MessageChange, message: Message) -> None:
    reactions = selectors.message_reactions(message_ids=[message.pk]).get(message.pk, [])
    files = attachments.message_attachments(message_ids=[message.pk]).get(message.pk)
    frame = events.change_frame(
        change, message, room_slug=message.room.slug, reactions=reactions, attachments=files
    )
    events.publish(
        groups.room_group(change.room_id),
        {
            "type": "chat.message",
            "room_id": change.room_id,
            "seq": change.seq,
            "text": events.encode(frame),
            "committed_at": time.time(),
        },
    )


# --- the changes ---------------------------------------------------------------------


def message_edit(
    *, room_slug: str, message_id: int, editor: AbstractBaseUser, body: str, body_html: str | None = None
) -> MessageChange | None:
    """Replace a message's body, keeping the previous one in its edit history. `body_html`: the new
    body rendered outside the transaction by the caller (rendered here when None)."""
    body_validate(body=body)
    if body_html is None:
        body_html = formatting.render_message(body)
    with transaction.atomic():
        _check_change_rate(editor)
        room = _lock_room(room_slug=room_slug, user=editor)
        message = selectors.message_get_in_room(room=room, message_id=message_id)
        message_check_can_change(message=message, user=editor, edit=True)
        if message.body == body:
            transaction.set_rollback(True)  # nothing changes: give the seq back
            return None
        MessageEdit.objects.create(message=message, body=message.body, editor=editor)
        message.body = body
        message.body_html = body_html
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "body_html", "edited_at"])
        return _record(room=room, message=message, kind=Kind.EDITED, actor=editor)


def message_remove(*, room_slug: str, message_id: int, user: AbstractBaseUser) -> MessageChange | None:
    """A user deletes a message (their own, or any as an admin); None if it was already deleted."""
    with transaction.atomic():
        _check_change_rate(user)
        room = _lock_room(room_slug=room_slug, user=user)
        message = selectors.message_get_in_room(room=room, message_id=message_id)
        if message.is_deleted:
            transaction.set_rollback(True)
            return None
        message_check_can_change(message=message, user=user, edit=False, room=room)
        return _blank(room=room, message=message, actor=user)


def message_delete(*, message: Message, actor: AbstractBaseUser | None = None) -> Message:
    """Delete a message for a trusted caller (the admin): no access, window or archive check."""
    with transaction.atomic():
        room = queries.room_take_next_seq(message.room.slug)
        message = Message.objects.select_related("author").get(pk=message.pk)
        if message.is_deleted:
            transaction.set_rollback(True)
            return message
        _blank(room=room, message=message, actor=actor)
    return message


def _blank(*, room: Room, message: Message, actor: AbstractBaseUser | None) -> MessageChange:
    """Blank the body (the row and its seq stay) and drop its reactions and edit history."""
    message.body = message.body_html = ""
    message.deleted_at = timezone.now()
    message.save(update_fields=["body", "body_html", "deleted_at"])
    Reaction.objects.filter(message=message).delete()
    MessageEdit.objects.filter(message=message).delete()
    attachments.attachments_drop(message=message)  # the files go after commit
    return _record(room=room, message=message, kind=Kind.DELETED, actor=actor)


def reaction_add(
    *, room_slug: str, message_id: int, user: AbstractBaseUser, emoji: str
) -> MessageChange | None:
    """Add the user's emoji to a message; None if it was there already (nothing changes)."""
    emoji = emoji_validate(emoji)
    with transaction.atomic():
        _check_change_rate(user)
        room = _lock_room(room_slug=room_slug, user=user)
        message = selectors.message_get_in_room(room=room, message_id=message_id)
        if message.is_deleted:
            raise MessageDeleted()
        if message.kind != "message":
            raise NotAllowed("System lines take no reactions.")
        distinct = set(Reaction.objects.filter(message=message).values_list("emoji", flat=True))
        if emoji not in distinct and len(distinct) >= settings.CHAT_REACTIONS_MAX_DISTINCT:
            raise TooManyReactions()
        try:
            with transaction.atomic():
                Reaction.objects.create(message=message, user=user, emoji=emoji)
        except IntegrityError:
            transaction.set_rollback(True)  # already reacted: give the seq back
            return None
        return _record(room=room, message=message, kind=Kind.REACTIONS, actor=user)


def reaction_remove(
    *, room_slug: str, message_id: int, user: AbstractBaseUser, emoji: str
) -> MessageChange | None:
    """Take the user's emoji off a message; None if it was not there."""
    emoji = emoji_validate(emoji)
    with transaction.atomic():
        _check_change_rate(user)
        room = _lock_room(room_slug=room_slug, user=user)
        message = selectors.message_get_in_room(room=room, message_id=message_id)
        deleted, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
        if not deleted:
            transaction.set_rollback(True)
            return None
        return _record(room=room, message=message, kind=Kind.REACTIONS, actor=user)


def reply_record(*, room: Room, parent: Message, reply: Message) -> MessageChange:
    """Inside a send's transaction: count a new reply on its parent under the room's next seq."""
    room = queries.room_take_next_seq(room.slug)
    parent.reply_count += 1
    parent.last_reply_at = reply.created_at
    parent.save(update_fields=["reply_count", "last_reply_at"])
    return _record(room=room, message=parent, kind=Kind.REPLIES, actor=reply.author)
