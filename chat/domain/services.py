"""Writes of messages: check -> do -> announce after commit. Every adapter (socket, HTTP, admin)
calls these; changes to stored messages are in message_changes.py, rooms and their members in
rooms.py, direct messages in dms.py, sessions in accounts.py."""

import logging
import time
from dataclasses import dataclass
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, InterfaceError, OperationalError, transaction

from chat.domain import attachments, formatting, message_changes, queries, reads, selectors
from chat.domain.errors import (
    ClientMsgIdConflict,
    MessageDeleted,
    NotAllowed,
    RateLimited,
    ReadOnly,
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
    notification_kind, notified_ids = _notified_readers(room=room, author=request.author, body=request.body)
    reads.mentions_record(message=message, user_ids=notified_ids)  # a DM message counts as a mention
    transaction.on_commit(partial(_announce_message, message, notification_kind, notified_ids), robust=True)
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
    if parent.kind != "message":
        raise NotAllowed("System lines take no replies.")
    return parent


def _message_retry(request: MessageRequest, cause: Exception) -> tuple[Message, bool] | Exception:
    """The stored message this send repeats, or the error that refused it."""
    existing = selectors.message_by_client_id(author=request.author, client_msg_id=request.client_msg_id)
    if existing is None:
        return cause
    if existing.room.slug != request.room_slug:
        return ClientMsgIdConflict()
    return existing, False


def _notified_readers(*, room: Room, author: AbstractBaseUser, body: str) -> tuple[str, list[int]]:
    """Who gets a `notification` for a new message: in a DM every other member ("dm"), elsewhere the
    readers it mentions ("mention")."""
    if room.kind == Room.Kind.DM:
        members = Membership.objects.filter(room=room, user__is_active=True).exclude(user=author)
        return "dm", list(members.values_list("user_id", flat=True))
    return "mention", _mentioned_readers(room=room, author=author, body=body)


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


def _announce_message(message: Message, notification_kind: str, notified_ids: list[int]) -> None:
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
    if notified_ids:
        notification = events.encode(
            {
                "type": "notification",
                "kind": notification_kind,
                "room": room.slug,
                "seq": message.seq,
                "from": frame["author"],
                "body": message.body,
            }
        )
        for user_id in notified_ids:
            events.publish(groups.user_group(user_id), {"type": "chat.notify", "text": notification})
