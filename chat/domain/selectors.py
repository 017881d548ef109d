"""Reads, with the access rules. Synchronous: async callers wrap them in database_sync_to_async."""

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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

from chat.domain import connection_reads, search, tokens
from chat.domain.errors import InvalidField, UnknownMessage, UnknownRoom
from chat.models import ApiToken, Membership, Message, MessageChange, Reaction, Room

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


def room_get_readable_with_role(*, slug: str, user: User) -> tuple[Room, str | None]:
    """room_get_readable, and the user's role in the room (None: not a member), in one statement
    (connection_reads.room_with_role: this runs for every subscribe). The same rule and the same
    UnknownRoom, word for word, for a room that does not exist and one the user may not read."""
    found = None
    if user.is_authenticated and user.is_active:
        found = connection_reads.room_with_role(slug=slug, user_id=user.pk)
    if found is None or (found[0].is_private and found[1] is None):
        raise UnknownRoom(f"No room {slug!r}.")
    return found


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


@dataclass(frozen=True)
class SearchPage:
    """One page of search results and the cursor of the next (None on the last)."""

    results: list[dict]
    next: str | None


def messages_search(
    *,
    user: User,
    query: str,
    room: str | None = None,
    author: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    has_file: bool | None = None,
    order: str = "newest",
    limit: int | None = None,
    cursor: str | None = None,
) -> SearchPage:
    """Messages the user may read that match the query, newest first or by relevance.

    The access rule is part of the one SQL statement (chat/domain/search.py); `cursor` is the
    previous page's `next`. Raises InvalidQuery or InvalidField for a query or filter it refuses.
    """
    parsed = search.query_parse(query)
    if order not in search.ORDERS:
        raise InvalidField(f"order must be one of {', '.join(search.ORDERS)}.")
    limit = settings.CHAT_SEARCH_PAGE if limit is None else limit
    if not 1 <= limit <= settings.CHAT_SEARCH_MAX_PAGE:
        raise InvalidField(f"limit must be between 1 and {settings.CHAT_SEARCH_MAX_PAGE}.")
    offset = _search_offset(cursor)
    room, author = _search_name(room, "room"), _search_name(author, "author")
    if not (user.is_authenticated and user.is_active):
        return SearchPage(results=[], next=None)
    filters = search.Filters(room_slug=room, author=author, before=before, after=after, has_file=has_file)
    ids = search.search_ids(
        user_id=user.pk, query=parsed, filters=filters, order=order, limit=limit + 1, offset=offset
    )
    more = len(ids) > limit and offset + limit < settings.CHAT_SEARCH_MAX_OFFSET
    ids = ids[:limit]
    found = Message.objects.select_related("author", "room").in_bulk(ids)
    results = [_search_result(found[i], parsed) for i in ids if i in found]
    return SearchPage(results=results, next=str(offset + limit) if more else None)


def _search_name(value: str | None, name: str) -> str | None:
    """A room slug or username to filter by: printable, at most 150 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 150 or not value.isprintable():
        raise InvalidField(f"{name} must be a room slug or username.")
    return value


def _search_offset(cursor: str | None) -> int:
    if cursor in (None, ""):
        return 0
    if not isinstance(cursor, str) or not cursor.isdigit() or len(cursor) > 6:
        raise InvalidField("cursor must be the `next` of a previous page.")
    offset = int(cursor)
    if offset >= settings.CHAT_SEARCH_MAX_OFFSET:
        raise InvalidField("cursor must be the `next` of a previous page.")
    return offset


def _search_result(message: Message, query: search.SearchQuery) -> dict:
    return {
        "room": message.room.slug,
        "room_title": message.room.title,
        "seq": message.seq,
        "id": message.pk,
        "author": message.author.get_username() if message.author_id else None,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "highlight": search.highlight(message.body, query.terms),
    }


# --- API tokens ----------------------------------------------------------------------


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The live token this secret is (with its user), or None: malformed, unknown, revoked, wrong
    secret (compared in constant time), or its user inactive."""
    prefix = tokens.token_prefix(secret)
    if prefix is None:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.secret_hash, tokens.token_digest(secret)):
        return None
    if not token.user.is_active:
        return None
    return token


def api_tokens_of(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """A user's tokens, newest first, revoked ones too."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def api_token_get(*, user: AbstractBaseUser, token_id: int) -> ApiToken | None:
    """The user's own token with this id, or None (another user's is None too)."""
    return ApiToken.objects.filter(user=user, pk=token_id).first()
