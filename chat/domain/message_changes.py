"""Changes to stored messages: edit, delete, reactions, and a reply's mark on its parent.

Every change takes the room's next seq in the same transaction as the change itself, and is
announced after commit on the room's group as a `chat.message` event carrying that seq: live
delivery, gap fills, the repair loop and catch-up treat a change exactly as they treat a new
message (chat/protocol/handlers/delivery.py), so a client that reconnects with `since` gets every
change it missed, once, in order. check -> do -> record -> announce, as in services.py.

Users' changes join this process's group commit with the sends (chat/domain/batching.py): each is
`change_store` in a savepoint of a batch's transaction. Its statements are the hand-written ones of
queries.py, and its frame is built inside the transaction, from the message, reactions and files
read under the room's lock and what the change wrote: nothing is read after commit.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache, partial

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
    UnknownMessage,
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
    message there (chat/domain/rooms.py) and edit their own at any time. System lines are nobody's
    to change."""
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
    if (
        edit
        and timezone.now() - message.created_at > timedelta(seconds=settings.CHAT_EDIT_WINDOW)
        and not (room is not None and rooms.room_may_delete_any_message(room=room, user=user))
    ):
        raise EditWindowClosed()


def message_edit_history(
    *, room_slug: str, message_id: int, user: AbstractBaseUser, limit: int
) -> tuple[list[MessageEdit], bool]:
    """The bodies a message had before its last `limit` edits, oldest first, with who replaced each
    and when, and whether earlier ones exist: for its author, the room's owners and moderators, and
    admins. Anyone else who may read the room gets NotAllowed; anyone who may not, UnknownRoom (the
    same as for a room that does not exist). A deleted message has no history left (its deletion
    removed it)."""
    room, role = selectors.room_get_readable_with_role(slug=room_slug, user=user)
    message = selectors.message_get_in_room(room=room, message_id=message_id)
    if not (message.author_id == user.pk or role in rooms.MANAGERS or user_is_admin(user)):
        raise NotAllowed(
            "Only the author, the room's moderators and admins see a message's earlier versions."
        )
    edits = MessageEdit.objects.filter(message=message).select_related("editor")
    newest = list(edits.order_by("-edited_at", "-pk")[: limit + 1])
    return newest[:limit][::-1], len(newest) > limit


def emoji_validate(value: object) -> str:
    """One emoji (a single grapheme the emoji database knows, with any skin tone), or InvalidEmoji."""
    if not isinstance(value, str) or not 0 < len(value) <= 32 or not _is_one_emoji(value):
        raise InvalidEmoji()
    return value


@lru_cache(maxsize=4096)
def _is_one_emoji(value: str) -> bool:
    # About 0.1 ms a call (the emoji package tokenizes), for a handful of different values: cached
    # per process (a pure function of its argument).
    return emoji_data.purely_emoji(value) and len(emoji_data.emoji_list(value)) == 1


def _check_change_rate(user: AbstractBaseUser) -> None:
    """At most CHAT_CHANGE_RATE_LIMIT edits, deletions and reactions per CHAT_CHANGE_RATE_WINDOW
    seconds per user, counted in the database (so across nodes), inside the change's transaction."""
    if queries.actor_over_change_rate(user):
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


@dataclass
class _Target:
    """The message a change applies to, read once under the room's lock, with what its frame needs."""

    message: Message
    reactions: list[tuple[str, int, str]]  # (emoji, user id, username), oldest first
    attachments: list[dict] | None


def _target(*, room: Room, message_id: int) -> _Target:
    """The message of this room a change applies to (or UnknownMessage), its reactions and its files:
    read inside the change's transaction, so that its frame is built from them and what the change
    wrote, with no read after commit. Reactions and files are read only when it has some."""
    found = queries.message_for_change(room_id=room.pk, message_id=message_id)
    if found is None:
        raise UnknownMessage(f"No message {message_id} in {room.slug!r}.")
    message, has_reactions, has_attachments = found
    message.room = room
    return _Target(
        message=message,
        reactions=queries.message_reaction_rows(message.pk) if has_reactions else [],
        attachments=(
            attachments.message_attachments(message_ids=[message.pk]).get(message.pk)
            if has_attachments
            else None
        ),
    )


def _reactions_summary(rows: list[tuple[str, int, str]]) -> list[dict]:
    """[{"emoji", "count", "users": [usernames]}] in order of first use, as selectors.message_reactions."""
    by_emoji: dict[str, dict] = {}
    for emoji, _, username in rows:
        entry = by_emoji.setdefault(emoji, {"emoji": emoji, "count": 0, "users": []})
        entry["count"] += 1
        entry["users"].append(username)
    return list(by_emoji.values())


def _record(*, room: Room, target: _Target, kind: str, actor: AbstractBaseUser | None) -> MessageChange:
    """Store the change under the room's seq just taken, and announce it after commit."""
    change = MessageChange(room=room, seq=room.last_seq, message=target.message, kind=kind, actor=actor)
    queries.row_insert(change)
    frame = events.change_frame(
        change,
        target.message,
        room_slug=room.slug,
        reactions=_reactions_summary(target.reactions),
        attachments=target.attachments,
    )
    transaction.on_commit(partial(_announce_change, change, frame), robust=True)
    return change


def _announce_change(change: MessageChange, frame: dict) -> None:
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


class Unchanged(Exception):
    """Raised inside a change's transaction when it changes nothing (the same body, a reaction
    already there or already gone): the caller rolls its savepoint back, and with it the seq."""


class ChangeKind(StrEnum):
    EDIT = "message.edit"
    DELETE = "message.delete"
    REACTION_ADD = "reaction.add"
    REACTION_REMOVE = "reaction.remove"


@dataclass(frozen=True)
class ChangeRequest:
    """One change to a stored message, as a transport received it. Users' changes join this
    process's group commit with the sends (chat/domain/batching.py)."""

    kind: ChangeKind
    room_slug: str
    message_id: int
    user: AbstractBaseUser
    body: str = ""  # an edit's new body
    # An edit's body rendered outside the transaction (formatting.render_message); here if None.
    body_html: str | None = None
    emoji: str = ""  # a reaction's


def change_validate(request: ChangeRequest) -> None:
    """What can be refused without the database (so it is, before a transaction)."""
    if request.kind is ChangeKind.EDIT:
        body_validate(body=request.body)
    elif request.kind in (ChangeKind.REACTION_ADD, ChangeKind.REACTION_REMOVE):
        emoji_validate(request.emoji)


def change_store(request: ChangeRequest) -> MessageChange:
    """Inside a transaction (a savepoint of a batch): apply one change under the room's next seq
    and announce it after commit; raises Unchanged if it changes nothing, or the ChatError that
    refuses it. check -> do -> record -> announce."""
    change_validate(request)
    _check_change_rate(request.user)
    room = _lock_room(room_slug=request.room_slug, user=request.user)
    target = _target(room=room, message_id=request.message_id)
    if request.kind is ChangeKind.EDIT:
        return _edit(
            room=room, target=target, editor=request.user, body=request.body, body_html=request.body_html
        )
    if request.kind is ChangeKind.DELETE:
        if target.message.is_deleted:
            raise Unchanged()
        message_check_can_change(message=target.message, user=request.user, edit=False, room=room)
        return _blank(room=room, target=target, actor=request.user)
    if request.kind is ChangeKind.REACTION_ADD:
        return _reaction_add(room=room, target=target, user=request.user, emoji=request.emoji)
    return _reaction_remove(room=room, target=target, user=request.user, emoji=request.emoji)


def _change_alone(request: ChangeRequest) -> MessageChange | None:
    """One change in a transaction of its own, for direct callers; None if it changes nothing.
    Users' changes from a transport go through the group commit (batching.store_change) instead."""
    try:
        with transaction.atomic():
            queries.authors_lock([request.user.pk])  # as a batch does: the rate count is exact on PostgreSQL
            return change_store(request)
    except Unchanged:
        return None


def message_edit(
    *, room_slug: str, message_id: int, editor: AbstractBaseUser, body: str, body_html: str | None = None
) -> MessageChange | None:
    """Replace a message's body, keeping the previous one in its edit history. `body_html`: the new
    body rendered outside the transaction by the caller (rendered here when None)."""
    body_validate(body=body)
    if body_html is None:
        body_html = formatting.render_message(body)
    return _change_alone(
        ChangeRequest(ChangeKind.EDIT, room_slug, message_id, editor, body=body, body_html=body_html)
    )


def _edit(
    *, room: Room, target: _Target, editor: AbstractBaseUser, body: str, body_html: str | None
) -> MessageChange:
    message = target.message
    message_check_can_change(message=message, user=editor, edit=True, room=room)
    if message.body == body:
        raise Unchanged()  # nothing changes: give the seq back
    queries.row_insert(MessageEdit(message=message, body=message.body, editor=editor))
    message.body = body
    message.body_html = formatting.render_message(body) if body_html is None else body_html
    message.edited_at = timezone.now()
    queries.message_update(message, ("body", "body_html", "edited_at"))
    return _record(room=room, target=target, kind=Kind.EDITED, actor=editor)


def message_remove(*, room_slug: str, message_id: int, user: AbstractBaseUser) -> MessageChange | None:
    """A user deletes a message (their own, or any as an admin); None if it was already deleted."""
    return _change_alone(ChangeRequest(ChangeKind.DELETE, room_slug, message_id, user))


def message_delete(*, message: Message, actor: AbstractBaseUser | None = None) -> Message:
    """Delete a message for a trusted caller (the admin): no access, window or archive check."""
    with transaction.atomic():
        room = queries.room_take_next_seq(message.room.slug)
        target = _target(room=room, message_id=message.pk)
        if target.message.is_deleted:
            transaction.set_rollback(True)
            return target.message
        _blank(room=room, target=target, actor=actor)
    return target.message


def _blank(*, room: Room, target: _Target, actor: AbstractBaseUser | None) -> MessageChange:
    """Blank the body (the row and its seq stay) and drop its reactions and edit history."""
    message = target.message
    message.body = message.body_html = ""
    message.deleted_at = timezone.now()
    queries.message_update(message, ("body", "body_html", "deleted_at"))
    if target.reactions:
        Reaction.objects.filter(message=message).delete()
        target.reactions = []
    MessageEdit.objects.filter(message=message).delete()
    attachments.attachments_drop(message=message)  # the files go after commit
    target.attachments = None
    return _record(room=room, target=target, kind=Kind.DELETED, actor=actor)


def reaction_add(
    *, room_slug: str, message_id: int, user: AbstractBaseUser, emoji: str
) -> MessageChange | None:
    """Add the user's emoji to a message; None if it was there already (nothing changes)."""
    return _change_alone(ChangeRequest(ChangeKind.REACTION_ADD, room_slug, message_id, user, emoji=emoji))


def _reaction_add(*, room: Room, target: _Target, user: AbstractBaseUser, emoji: str) -> MessageChange:
    if target.message.is_deleted:
        raise MessageDeleted()
    if target.message.kind != "message":
        raise NotAllowed("System lines take no reactions.")
    # The room's row lock (taken above) serializes every change of this room's messages, on every
    # node, so these rows are the message's reactions until the commit.
    if any(row[0] == emoji and row[1] == user.pk for row in target.reactions):
        raise Unchanged()  # already reacted: give the seq back
    distinct = {row[0] for row in target.reactions}
    if emoji not in distinct and len(distinct) >= settings.CHAT_REACTIONS_MAX_DISTINCT:
        raise TooManyReactions()
    try:
        queries.row_insert(Reaction(message=target.message, user=user, emoji=emoji))
    except IntegrityError:  # the same reaction after all: this change rolls back, seq included
        raise Unchanged() from None
    target.reactions.append((emoji, user.pk, user.get_username()))
    return _record(room=room, target=target, kind=Kind.REACTIONS, actor=user)


def reaction_remove(
    *, room_slug: str, message_id: int, user: AbstractBaseUser, emoji: str
) -> MessageChange | None:
    """Take the user's emoji off a message; None if it was not there."""
    return _change_alone(ChangeRequest(ChangeKind.REACTION_REMOVE, room_slug, message_id, user, emoji=emoji))


def _reaction_remove(*, room: Room, target: _Target, user: AbstractBaseUser, emoji: str) -> MessageChange:
    if not queries.reaction_delete(message_id=target.message.pk, user_id=user.pk, emoji=emoji):
        raise Unchanged()
    target.reactions = [row for row in target.reactions if not (row[0] == emoji and row[1] == user.pk)]
    return _record(room=room, target=target, kind=Kind.REACTIONS, actor=user)


def reply_record(*, room: Room, parent: Message, reply: Message) -> MessageChange:
    """Inside a send's transaction: count a new reply on its parent under the room's next seq."""
    room = queries.room_take_next_seq(room.slug)
    target = _target(room=room, message_id=parent.pk)
    target.message.reply_count = parent.reply_count = target.message.reply_count + 1
    target.message.last_reply_at = parent.last_reply_at = reply.created_at
    queries.message_update(target.message, ("reply_count", "last_reply_at"))
    return _record(room=room, target=target, kind=Kind.REPLIES, actor=reply.author)
