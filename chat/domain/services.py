"""Writes of messages and rooms: check -> do -> announce after commit. Every adapter (socket, HTTP,
admin) calls these; changes to stored messages are in message_changes.py, sessions in accounts.py."""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.text import slugify

from chat.domain import attachments, formatting, message_changes, queries, selectors
from chat.domain.errors import (
    ClientMsgIdConflict,
    MessageDeleted,
    RateLimited,
    ReadOnly,
    TooManyRooms,
    UnknownRoom,
)
from chat.domain.validation import message_validate
from chat.models import Membership, Message, MessageChange, Room
from chat.realtime import events, groups

MAX_MENTIONS_PER_MESSAGE = 20

logger = logging.getLogger(__name__)


# --- messages ------------------------------------------------------------------------


def message_create(
    *, room: Room, author: AbstractBaseUser, body: str, client_msg_id: str
) -> tuple[Message, bool]:
    """Store a message and broadcast it after commit; returns (message, created).

    Idempotent per (author, client_msg_id): a retry returns the stored message and
    announces nothing. `seq` is taken by bumping `Room.last_seq` inside the same
    transaction; the row lock serializes writers on every node, so numbers never
    collide and a rolled-back write leaves no gap.

    For trusted callers (admin actions, seeding, tests): no rate limit. Users' sends go through
    messages_create_batch (the group-commit queue), which applies it.
    """
    request = MessageRequest(room_slug=room.slug, author=author, body=body, client_msg_id=client_msg_id)
    [result] = messages_create_batch([request], limit_rate=False)
    if isinstance(result, Exception):
        raise result
    room.last_seq = max(room.last_seq, result[0].seq)
    return result


@dataclass(frozen=True)
class MessageRequest:
    """One send, as a transport received it."""

    room_slug: str
    author: AbstractBaseUser
    body: str
    client_msg_id: str
    reply_to: int | None = None  # the id of a message of the same room
    # The body's HTML, rendered by the caller outside the transaction (it can take 0.1 s for a
    # hostile body: chat/domain/formatting.py); rendered here when None (trusted callers).
    body_html: str | None = None
    # Ids of the author's own uploads not yet sent (chat/domain/attachments.py), at most 10.
    attachments: tuple[int, ...] = ()


class _Retry(Exception):
    """A send that may be a retry of a stored message (it hit the unique (author, client_msg_id)
    constraint, the room is archived, or the author is over the rate limit): looked up once the
    transaction is over."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause


Request = MessageRequest | message_changes.ChangeRequest
Result = tuple[Message, bool] | MessageChange | None | Exception


def messages_create_batch(requests: list[Request], *, limit_rate: bool = True) -> list[Result]:
    """Store several sends and changes in one transaction (group commit); one result per request, in
    order: for a send (message, created), for a change the MessageChange (None if it changed
    nothing), or the ChatError that refused it, or the exception that failed it.

    Each send of a batch of several is its own savepoint, so a refused, duplicate or failing one
    rolls back alone and the others commit together, to be announced after the commit: whatever
    one send raises (a driver's encoding error, a database error), it is that send's result only.
    If the commit itself fails (a deferred constraint, checked only then), each send is stored
    again alone, so that it too fails only its own send. A database that cannot be reached or
    stays locked (OperationalError, InterfaceError) fails the whole batch: nothing was committed,
    and the senders retry with the same client_msg_id.

    `limit_rate`: refuse (RateLimited) a send past its author's rate limit. The authors' sends are
    serialized first (queries.authors_lock), so that the count is exact on PostgreSQL too; so are
    the users' changes, which are always limited (CHAT_CHANGE_RATE_LIMIT).
    """
    try:
        return _messages_store_together(requests, limit_rate=limit_rate)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        if len(requests) == 1:
            return [exc]
        logger.warning("a batch of %d sends failed to commit (%r); storing each alone", len(requests), exc)
    results: list[Result] = []
    for request in requests:
        try:
            [result] = _messages_store_together([request], limit_rate=limit_rate)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            result = exc
        results.append(result)
    return results


def _messages_store_together(requests: list[Request], *, limit_rate: bool) -> list[Result]:
    results: dict[int, Result | _Retry] = {}
    # Stable: a room's sends and changes keep the order in which they arrived.
    order = sorted(range(len(requests)), key=lambda index: requests[index].room_slug)
    with transaction.atomic():
        if limit_rate:
            # Before any room's row lock: every batch takes authors, then rooms, each in one order.
            queries.authors_lock([requester(request).pk for request in requests])
        for index in order:
            request = requests[index]
            try:
                # One request alone needs no savepoint: its failure rolls the transaction back.
                with transaction.atomic(savepoint=len(requests) > 1):
                    if isinstance(request, message_changes.ChangeRequest):
                        results[index] = message_changes.change_store(request)
                    else:
                        results[index] = (_message_store(request, limit_rate=limit_rate), True)
            except message_changes.Unchanged:
                results[index] = None  # rolled back with its seq
            except _Retry as retry:
                results[index] = retry
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:  # ChatError: refused; anything else: this send failed
                results[index] = exc
    answers: list[Result] = []
    for request, answer in zip(requests, (results[index] for index in range(len(requests))), strict=True):
        if isinstance(answer, _Retry):
            try:
                answer = _message_retry(request, answer.cause)
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                answer = exc
        answers.append(answer)
    return answers


def requester(request: Request) -> AbstractBaseUser:
    """Who made a send or a change."""
    return request.user if isinstance(request, message_changes.ChangeRequest) else request.author


def _message_store(request: MessageRequest, *, limit_rate: bool) -> Message:
    """Inside a transaction: take the room's next seq, check, insert, and announce after commit."""
    message_validate(
        body=request.body, client_msg_id=request.client_msg_id, has_attachments=bool(request.attachments)
    )
    if limit_rate and (wait := queries.author_rate_wait(request.author)) is not None:
        # Unless it repeats a stored message, which is acked again.
        raise _Retry(RateLimited(f"Too many messages; send again in {wait:.1f} s.", retry_after=wait))
    room = queries.room_take_next_seq(request.room_slug)
    if room is None:
        raise UnknownRoom(f"No room {request.room_slug!r}.")
    selectors.room_check_access(room=room, user=request.author)
    if room.is_archived:
        raise _Retry(ReadOnly(f"{room.slug!r} is archived."))
    parent = _reply_parent(room, request.reply_to) if request.reply_to is not None else None
    message = Message(
        room=room, seq=room.last_seq, author=request.author, body=request.body,
        client_msg_id=request.client_msg_id, reply_to=parent,
        body_html=formatting.render_message(request.body) if request.body_html is None else request.body_html,
    )  # fmt: skip
    # room and author are the objects in hand; validating them would query for each.
    # A message with attachments may have an empty body (message_validate checked its length).
    exclude = ["room", "author", "body"] if request.attachments else ["room", "author"]
    message.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    # No look-up of a retry first: retries are rare, and the unique (author, client_msg_id)
    # constraint catches them (the send then rolls back, seq included).
    try:
        queries.message_insert(message)
    except IntegrityError as exc:
        raise _Retry(exc) from exc
    files = attachments.attachments_attach(message=message, ids=request.attachments)
    message.attachment_dicts = [attachments.attachment_dict(a) for a in files]
    mentioned_ids = _mentioned_readers(room=room, author=request.author, body=request.body)
    transaction.on_commit(partial(_announce_message, message, mentioned_ids), robust=True)
    if parent is not None:  # after the message's own announcement, under the next seq
        message_changes.reply_record(room=room, parent=parent, reply=message)
    return message


def _reply_parent(room: Room, message_id: int) -> Message:
    """The message a reply goes under: the named one, or its thread's first if it is a reply itself."""
    parent = selectors.message_get_in_room(room=room, message_id=message_id)
    if parent.reply_to_id is not None:
        parent = selectors.message_get_in_room(room=room, message_id=parent.reply_to_id)
    if parent.is_deleted:
        raise MessageDeleted("The message replied to was deleted.")
    return parent


def _message_retry(request: MessageRequest, cause: Exception) -> tuple[Message, bool] | Exception:
    """The stored message this send repeats, or the error that refused it."""
    existing = selectors.message_by_client_id(author=request.author, client_msg_id=request.client_msg_id)
    if existing is None:
        return cause
    if existing.room.slug != request.room_slug:
        return ClientMsgIdConflict()
    return existing, False


def _mentioned_readers(*, room: Room, author: AbstractBaseUser, body: str) -> list[int]:
    if "@" not in body:
        return []
    names: set[str] = set()
    for match in formatting.MENTION_RE.finditer(body):
        name = match.group(1)
        names.update({name, name.rstrip(".")})  # "@bob." at the end of a sentence
        if len(names) >= 2 * MAX_MENTIONS_PER_MESSAGE:
            break
    users = get_user_model().objects.filter(username__in=names, is_active=True).exclude(pk=author.pk)
    if room.is_private:
        users = users.filter(chat_memberships__room=room)
    return list(users.values_list("pk", flat=True)[:MAX_MENTIONS_PER_MESSAGE])


def _announce_message(message: Message, mentioned_ids: list[int]) -> None:
    room = message.room
    frame = events.message_frame(
        message, room_slug=room.slug, attachments=getattr(message, "attachment_dicts", None)
    )
    events.publish(
        groups.room_group(room.pk),
        {
            "type": "chat.message",
            "room_id": room.pk,
            "seq": message.seq,
            "text": events.encode(frame),
            "committed_at": time.time(),
        },
    )
    if mentioned_ids:
        notification = events.encode(
            {
                "type": "notification",
                "kind": "mention",
                "room": room.slug,
                "seq": message.seq,
                "from": frame["author"],
                "body": message.body,
            }
        )
        for user_id in mentioned_ids:
            events.publish(groups.user_group(user_id), {"type": "chat.notify", "text": notification})


# --- rooms ---------------------------------------------------------------------------


def _unique_slug(title: str) -> str:
    base = slugify(title)[:50].strip("-") or "room"
    slug, n = base, 1
    while Room.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def room_create(
    *,
    creator: AbstractBaseUser | None,
    title: str,
    description: str = "",
    is_private: bool = False,
    slug: str | None = None,
    limit_rate: bool = True,
) -> Room:
    """Create a room (the creator joins a private one) and announce it to the lobby.

    `limit_rate`: refuse (TooManyRooms) a creator who is not staff and created CHAT_ROOM_CREATE_LIMIT
    rooms in the last CHAT_ROOM_CREATE_WINDOW seconds; trusted callers (the admin, acting for
    any creator) pass False.
    """
    if limit_rate and creator is not None and not getattr(creator, "is_staff", False):
        room_check_create_rate(creator=creator)
    room = Room(
        slug=slug or _unique_slug(title),
        title=title.strip(),
        description=description.strip(),
        is_private=is_private,
        creator=creator,
    )
    room.full_clean()
    room.save(force_insert=True)
    if is_private and creator is not None:
        Membership.objects.create(room=room, user=creator)
    _announce_room(room, kind="room.created", was_public=False)
    return room


def room_check_create_rate(*, creator: AbstractBaseUser) -> None:
    """Raise TooManyRooms if the user created CHAT_ROOM_CREATE_LIMIT rooms in the last window.

    Counted in the database, so it holds on every node. The user's row is locked first (inside the
    caller's transaction), so that one user's concurrent creations on several nodes count one after
    the other: under PostgreSQL's READ COMMITTED two counts would otherwise both see room for one
    more. (SQLite's IMMEDIATE transactions already take the database's write lock at BEGIN.)
    """
    User = get_user_model()
    list(User.objects.select_for_update().filter(pk=creator.pk).values_list("pk", flat=True))
    since = timezone.now() - timedelta(seconds=settings.CHAT_ROOM_CREATE_WINDOW)
    recent = Room.objects.filter(creator=creator, created_at__gt=since).count()
    if recent >= settings.CHAT_ROOM_CREATE_LIMIT:
        raise TooManyRooms()


def room_ensure(*, slug: str, title: str) -> Room:
    """The room with this slug, created public (no creator) if there is none yet."""
    room = Room.objects.filter(slug=slug).first()
    if room is not None:
        return room
    try:
        return room_create(creator=None, title=title, slug=slug)
    except (IntegrityError, ValidationError):  # another node created it meanwhile
        return Room.objects.get(slug=slug)


ROOM_EDITABLE_FIELDS = {"slug", "title", "description", "is_private"}


@transaction.atomic
def room_update(*, room: Room, **changes: object) -> Room:
    """Change a room's title, description, slug or privacy and announce `room.updated`."""
    unknown = set(changes) - ROOM_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"Not editable: {sorted(unknown)}")
    was_public = not Room.objects.filter(pk=room.pk).values_list("is_private", flat=True).get()
    for field, value in changes.items():
        setattr(room, field, value)
    room.full_clean()
    room.save(update_fields=sorted(changes) or None)
    _announce_room(room, kind="room.updated", was_public=was_public)
    return room


@transaction.atomic
def room_set_archived(*, room: Room, archived: bool) -> Room:
    """Archive (read-only) or unarchive a room and announce it."""
    if room.is_archived == archived:
        return room
    room.is_archived = archived
    room.save(update_fields=["is_archived"])
    _announce_room(room, kind="room.archived" if archived else "room.updated", was_public=not room.is_private)
    return room


@transaction.atomic
def room_member_add(*, room: Room, user: AbstractBaseUser) -> Membership:
    """Make a user a member of a room; a private room then appears in their lobby."""
    membership, created = Membership.objects.get_or_create(room=room, user=user)
    if created and room.is_private:
        _announce_room(room, kind="room.updated", was_public=False)
    return membership


@transaction.atomic
def room_member_remove(*, room: Room, user: AbstractBaseUser) -> None:
    """Remove a member; their live subscriptions to a private room end at once."""
    deleted, _ = Membership.objects.filter(room=room, user=user).delete()
    if deleted and room.is_private:
        transaction.on_commit(
            partial(
                events.publish,
                groups.user_group(user.pk),
                {"type": "chat.access_revoked", "room_id": room.pk, "slug": room.slug},
            ),
            robust=True,
        )


def _announce_room(room: Room, *, kind: str, was_public: bool) -> None:
    # One event to the lobby group; each connection decides whether its user may see it.
    event = {
        "type": "chat.room_changed",
        "room_id": room.pk,
        "private": room.is_private,
        "was_public": was_public,
        "member_ids": selectors.room_member_ids(room=room) if room.is_private else [],
        "text": events.encode({"type": kind, "room": events.room_frame(room)}),
    }
    transaction.on_commit(partial(events.publish, groups.LOBBY_GROUP, event), robust=True)
