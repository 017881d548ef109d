"""Reads, with the access rules. Synchronous: async callers wrap them in database_sync_to_async."""

from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
)

from chat.domain.errors import UnknownMessage, UnknownRoom
from chat.models import Membership, Message, MessageChange, Reaction, Room

User = AbstractBaseUser | AnonymousUser


def room_get(*, slug: str) -> Room:
    """The room with this slug, or UnknownRoom."""
    try:
        return Room.objects.get(slug=slug)
    except Room.DoesNotExist:
        raise UnknownRoom(f"No room {slug!r}.") from None


def room_can_read(*, room: Room, user: User) -> bool:
    """Public rooms are open to every active signed-in user; private ones to members."""
    if not (user.is_authenticated and user.is_active):
        return False
    if not room.is_private:
        return True
    return Membership.objects.filter(room=room, user=user).exists()


def room_check_access(*, room: Room, user: User) -> None:
    """Raise UnknownRoom unless the user may read (and so subscribe to) the room.

    The same error, word for word, as for a slug no room has: a user who may not read a private
    room must not learn from the answer that it exists.
    """
    if not room_can_read(room=room, user=user):
        raise UnknownRoom(f"No room {room.slug!r}.")


def room_get_readable(*, slug: str, user: User) -> Room:
    """The room, if it exists and the user may read it."""
    room = room_get(slug=slug)
    room_check_access(room=room, user=user)
    return room


def rooms_visible_to(*, user: User) -> QuerySet[Room]:
    """Public rooms and the private rooms the user belongs to."""
    if not user.is_authenticated:
        return Room.objects.none()
    return Room.objects.filter(Q(is_private=False) | Q(memberships__user=user)).distinct()


def room_member_ids(*, room: Room) -> list[int]:
    """Ids of the members of a room."""
    return list(Membership.objects.filter(room=room).values_list("user_id", flat=True))


def room_last_seqs(*, room_ids: Iterable[int]) -> dict[int, int]:
    """The newest seq of each room."""
    return dict(Room.objects.filter(pk__in=list(room_ids)).values_list("pk", "last_seq"))


def room_readable(*, room_id: int, user: User) -> bool:
    """Whether the user may read the room with this pk now, in one query (room_can_read's rule:
    an active user; a public room, or a private one they are a member of)."""
    if not user.is_authenticated:
        return False
    member = Membership.objects.filter(room_id=OuterRef("pk"), user_id=user.pk)
    active = get_user_model()._default_manager.filter(pk=user.pk, is_active=True)
    return (
        Room.objects.filter(pk=room_id)
        .filter(Q(is_private=False) | Exists(member))
        .filter(Exists(active))
        .exists()
    )


def _messages(room: Room | int) -> QuerySet[Message]:
    return Message.objects.filter(room=room).select_related("author").order_by("seq")


def messages_after(*, room: Room, after_seq: int, limit: int) -> list[Message]:
    """Up to `limit` messages with seq > after_seq, oldest first."""
    return list(_messages(room).filter(seq__gt=after_seq)[:limit])


def messages_between(*, room: Room | int, after_seq: int, upto_seq: int) -> list[Message]:
    """Messages created with after_seq < seq <= upto_seq, oldest first."""
    return list(_messages(room).filter(seq__gt=after_seq, seq__lte=upto_seq))


NEW = "new"  # the kind of a change that is a message's creation


def room_changes_between(
    *, room: Room | int, after_seq: int, upto_seq: int
) -> list[tuple[int, str, Message]]:
    """A room's changes with after_seq < seq <= upto_seq, oldest first, as (seq, kind, message).

    A change is a message's creation (kind "new", the message's own seq) or a MessageChange. The
    message is in its current state: a replayed change shows what the message is now, which a
    client applies by message id, so replaying any suffix of the stream ends in the server's state.
    Two indexed range reads (messages, changes) and one for the changed messages.
    """
    created = messages_between(room=room, after_seq=after_seq, upto_seq=upto_seq)
    changes = list(
        MessageChange.objects.filter(room=room, seq__gt=after_seq, seq__lte=upto_seq).values_list(
            "seq", "kind", "message_id"
        )
    )
    by_id = {message.pk: message for message in created}
    missing = {message_id for _, _, message_id in changes if message_id not in by_id}
    if missing:
        by_id.update((m.pk, m) for m in Message.objects.filter(pk__in=missing).select_related("author"))
    stream = [(message.seq, NEW, message) for message in created]
    stream.extend((seq, kind, by_id[message_id]) for seq, kind, message_id in changes)
    stream.sort(key=lambda change: change[0])
    return stream


def message_reactions(*, message_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Each message's reactions: [{"emoji", "count", "users": [usernames]}], in order of first use."""
    ids = list(message_ids)
    if not ids:
        return {}
    result: dict[int, dict[str, dict]] = {}
    rows = (
        Reaction.objects.filter(message_id__in=ids)
        .order_by("message_id", "created_at", "pk")
        .values_list("message_id", "emoji", "user__username")
    )
    for message_id, emoji, username in rows:
        entry = result.setdefault(message_id, {}).setdefault(emoji, {"emoji": emoji, "count": 0, "users": []})
        entry["count"] += 1
        entry["users"].append(username)
    return {message_id: list(by_emoji.values()) for message_id, by_emoji in result.items()}


def message_get_in_room(*, room: Room, message_id: int) -> Message:
    """A message of this room, or UnknownMessage."""
    try:
        return Message.objects.select_related("author").get(room=room, pk=message_id)
    except Message.DoesNotExist:
        raise UnknownMessage(f"No message {message_id} in {room.slug!r}.") from None


def message_thread(*, room: Room, message_id: int, limit: int) -> tuple[Message, list[Message], bool]:
    """A thread: the parent message and its first `limit` replies (oldest first), and whether more exist."""
    parent = message_get_in_room(room=room, message_id=message_id)
    replies = list(_messages(room).filter(reply_to=parent)[: limit + 1])
    return parent, replies[:limit], len(replies) > limit


def messages_before(*, room: Room, before_seq: int | None, limit: int) -> tuple[list[Message], bool]:
    """The `limit` newest messages with seq < before_seq (all when None), oldest first, and
    whether older ones exist."""
    query = Message.objects.filter(room=room).select_related("author")
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    page = list(query.order_by("-seq")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    page.reverse()
    return page, has_more


def message_by_client_id(*, author: User, client_msg_id: str) -> Message | None:
    """The author's message with this client_msg_id, if one was stored."""
    return Message.objects.select_related("room").filter(author=author, client_msg_id=client_msg_id).first()


# --- sessions and accounts -----------------------------------------------------------


def session_store_class():
    """The SessionStore of SESSION_ENGINE."""
    return import_module(settings.SESSION_ENGINE).SessionStore


def user_credentials(*, user_id: int) -> tuple[str, bool] | None:
    """A user's stored (password hash, is_active), or None if there is no such user."""
    return get_user_model()._default_manager.filter(pk=user_id).values_list("password", "is_active").first()
