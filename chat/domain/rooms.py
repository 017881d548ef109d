"""Rooms and who runs them: creation, settings, archive, members and roles (docs/rooms.md).

Every action is check (the actor's role allows it) -> do -> a system line under the room's next seq
-> announce after commit, in one transaction that holds the room's row lock, so that two nodes'
changes to one room are serialized and a refused or rolled-back change leaves no trace. `as_admin`
is the Django admin: it skips the role check (the operator has full power) but keeps the invariants
(a room keeps an owner, a DM's members are its set).
"""

from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.domain import queries, room_info, slugs
from chat.domain.errors import Forbidden, InvalidField, LastOwner, NotFound, TooManyRooms
from chat.domain.system_lines import system_line_record
from chat.models import Membership, Message, Room
from chat.realtime import events, groups

OWNER, MODERATOR, MEMBER = Membership.Role.OWNER, Membership.Role.MODERATOR, Membership.Role.MEMBER
ROLES = (OWNER, MODERATOR, MEMBER)
MANAGERS = (OWNER, MODERATOR)  # invite, remove members, change settings, archive, delete any message

# What room_update may change: users (owners, moderators) and the admin; the slug only in the admin.
ROOM_EDITABLE_FIELDS = {"title", "description", "is_private"}
ADMIN_EDITABLE_FIELDS = ROOM_EDITABLE_FIELDS | {"slug"}


# --- creation ------------------------------------------------------------------------


def _unique_slug(title: str) -> str:
    base = slugs.base_slug(title)  # readable for Korean titles too (chat/domain/slugs.py)
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
    """Create a room, owned by its creator, and announce it to the lobby.

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
    if creator is not None:
        Membership.objects.create(room=room, user=creator, role=OWNER)
    room_announce(room, kind="room.created", was_public=False)
    return room


def room_check_create_rate(*, creator: AbstractBaseUser, excluding: int | None = None) -> None:
    """Raise TooManyRooms if the user created CHAT_ROOM_CREATE_LIMIT rooms (DMs included) in the
    last window.

    Counted in the database, so it holds on every node. The user's row is locked first (inside the
    caller's transaction), so that one user's concurrent creations on several nodes count one after
    the other: under PostgreSQL's READ COMMITTED two counts would otherwise both see room for one
    more. (SQLite's IMMEDIATE transactions already take the database's write lock at BEGIN.)
    `excluding`: a room the caller has just inserted in this transaction (not counted).
    """
    User = get_user_model()
    list(User.objects.select_for_update().filter(pk=creator.pk).values_list("pk", flat=True))
    since = timezone.now() - timedelta(seconds=settings.CHAT_ROOM_CREATE_WINDOW)
    recent = Room.objects.filter(creator=creator, created_at__gt=since).exclude(pk=excluding).count()
    if recent >= settings.CHAT_ROOM_CREATE_LIMIT:
        raise TooManyRooms()


def room_ensure(*, slug: str, title: str) -> Room:
    """The room with this slug, created public (no creator, so no owner: admins run it) if there is
    none yet."""
    room = Room.objects.filter(slug=slug).first()
    if room is not None:
        return room
    try:
        return room_create(creator=None, title=title, slug=slug)
    except (IntegrityError, ValidationError):  # another node created it meanwhile
        return Room.objects.get(slug=slug)


# --- the checks ----------------------------------------------------------------------


def _lock(*, room_slug: str, actor: AbstractBaseUser | None, as_admin: bool) -> tuple[Room, str | None]:
    """Take the room's next seq (its row lock: one room's changes are serialized on every node) and
    the actor's role. NotFound for a room the actor may not see, as for one that does not exist."""
    room = queries.room_take_next_seq(room_slug)
    if room is None:
        raise NotFound(f"No room {room_slug!r}.")
    if as_admin:
        return room, None
    if actor is None or not (actor.is_authenticated and actor.is_active):
        raise NotFound(f"No room {room_slug!r}.")
    role = room_info.role_in(room=room, user=actor)
    if role is None and room.is_private:
        raise NotFound(f"No room {room_slug!r}.")
    return room, role


def _require(allowed: bool, detail: str) -> None:
    if not allowed:
        raise Forbidden(detail)


def _not_dm(room: Room) -> None:
    if room.kind == Room.Kind.DM:
        raise Forbidden("A direct message's members and settings are fixed; anyone may leave it.")


def _membership(*, room: Room, username: object) -> Membership:
    if not isinstance(username, str) or not 0 < len(username) <= 150:
        raise InvalidField("user must be a username.")
    membership = Membership.objects.select_related("user").filter(room=room, user__username=username).first()
    if membership is None:
        raise NotFound(f"{username!r} is not a member of this room.")
    return membership


def _active_user(username: object) -> AbstractBaseUser:
    if not isinstance(username, str) or not 0 < len(username) <= 150:
        raise InvalidField("user must be a username.")
    user = get_user_model()._default_manager.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


def _check_keeps_owner(*, room: Room, losing: Membership) -> None:
    """A room that has an owner keeps one: the last owner hands ownership over before leaving."""
    if losing.role != OWNER:
        return
    owners = Membership.objects.filter(room=room, role=OWNER).exclude(pk=losing.pk)
    if not owners.filter(user__is_active=True).exists():
        raise LastOwner()


def room_may_delete_any_message(*, room: Room, user: AbstractBaseUser) -> bool:
    """Owners and moderators delete any message of their room (message_changes.message_remove)."""
    return room_info.role_in(room=room, user=user) in MANAGERS


def _nothing_changed() -> None:
    transaction.set_rollback(True)  # give the seq back


# --- membership ----------------------------------------------------------------------


def room_member_add(
    *, room_slug: str, actor: AbstractBaseUser | None, username: str, as_admin: bool = False
) -> Message | None:
    """Owners and moderators add a user as a member; returns the system line (None: already one)."""
    with transaction.atomic():
        room, role = _lock(room_slug=room_slug, actor=actor, as_admin=as_admin)
        _not_dm(room)
        _require(as_admin or role in MANAGERS, "Only owners and moderators add members.")
        user = _active_user(username)
        _, created = Membership.objects.get_or_create(room=room, user=user)
        if not created:
            _nothing_changed()
            return None
        line = system_line_record(room=room, event="member.added", actor=actor, target=user.get_username())
        room_announce(room, kind="room.updated", was_public=not room.is_private)
        return line


def room_member_remove(
    *, room_slug: str, actor: AbstractBaseUser | None, username: str, as_admin: bool = False
) -> Message | None:
    """Owners remove anyone, moderators remove members; removing oneself is leaving. The removed
    user's subscriptions to a private room end at once, on every node."""
    with transaction.atomic():
        room, role = _lock(room_slug=room_slug, actor=actor, as_admin=as_admin)
        if actor is not None and not as_admin and username == actor.get_username():
            return _leave(room=room, actor=actor)
        _not_dm(room)
        _require(as_admin or role in MANAGERS, "Only owners and moderators remove members.")
        membership = _membership(room=room, username=username)
        _require(
            as_admin or role == OWNER or membership.role == MEMBER,
            "Moderators remove members only; owners remove moderators and owners.",
        )
        _check_keeps_owner(room=room, losing=membership)
        membership.delete()
        line = system_line_record(room=room, event="member.removed", actor=actor, target=username)
        _revoke(room, membership.user_id)
        return line


def room_leave(*, room_slug: str, actor: AbstractBaseUser) -> Message:
    """A member leaves a room (a DM too); the last owner hands ownership over first."""
    with transaction.atomic():
        room, role = _lock(room_slug=room_slug, actor=actor, as_admin=False)
        if role is None:
            raise NotFound("You are not a member of this room.")
        return _leave(room=room, actor=actor)


def _leave(*, room: Room, actor: AbstractBaseUser) -> Message:
    membership = _membership(room=room, username=actor.get_username())
    _check_keeps_owner(room=room, losing=membership)
    membership.delete()
    line = system_line_record(room=room, event="member.left", actor=actor, target=actor.get_username())
    _revoke(room, actor.pk)
    return line


def _revoke(room: Room, user_id: int) -> None:
    """After commit: the user's connections drop a private room (`room.removed`); every member's
    room object changes (the role list) through the lobby."""
    if room.is_private:
        transaction.on_commit(
            partial(
                events.publish,
                groups.user_group(user_id),
                {"type": "chat.access_revoked", "room_id": room.pk, "slug": room.slug},
            ),
            robust=True,
        )
    room_announce(room, kind="room.updated", was_public=not room.is_private)


def room_role_set(
    *, room_slug: str, actor: AbstractBaseUser | None, username: str, role: str, as_admin: bool = False
) -> Message | None:
    """Owners name moderators, make members owners (hand over) and demote; a room keeps an owner."""
    if role not in ROLES:
        raise InvalidField(f"role must be one of {', '.join(ROLES)}.")
    with transaction.atomic():
        room, actor_role = _lock(room_slug=room_slug, actor=actor, as_admin=as_admin)
        _not_dm(room)
        _require(as_admin or actor_role == OWNER, "Only owners change roles.")
        membership = _membership(room=room, username=username)
        if membership.role == role:
            _nothing_changed()
            return None
        _check_keeps_owner(room=room, losing=membership)
        membership.role = role
        membership.save(update_fields=["role"])
        line = system_line_record(room=room, event="role.changed", actor=actor, target=username, role=role)
        room_announce(room, kind="room.updated", was_public=not room.is_private)
        return line


# --- settings ------------------------------------------------------------------------


def room_update(
    *, room_slug: str, actor: AbstractBaseUser | None, as_admin: bool = False, **changes: object
) -> Message | None:
    """Owners and moderators change the title, description or privacy (the admin the slug too);
    returns the system line (None: nothing changed). Making a room private ends non-members'
    subscriptions on every node."""
    editable = ADMIN_EDITABLE_FIELDS if as_admin else ROOM_EDITABLE_FIELDS
    unknown = set(changes) - editable
    if unknown:
        raise InvalidField(f"Not editable: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        room, role = _lock(room_slug=room_slug, actor=actor, as_admin=as_admin)
        _not_dm(room)
        _require(as_admin or role in MANAGERS, "Only owners and moderators change a room's settings.")
        was_public = not room.is_private
        changed = sorted(name for name, value in changes.items() if getattr(room, name) != value)
        if not changed:
            _nothing_changed()
            return None
        for name in changed:
            setattr(room, name, changes[name])
        try:
            room.full_clean(exclude=["creator"])
        except ValidationError as exc:
            raise InvalidField(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        room.save(update_fields=changed)
        line = system_line_record(room=room, event="room.updated", actor=actor, fields=changed)
        room_announce(room, kind="room.updated", was_public=was_public)
        return line


def room_set_archived(
    *, room_slug: str, actor: AbstractBaseUser | None, archived: bool, as_admin: bool = False
) -> Message | None:
    """Owners and moderators archive (read-only) or unarchive a room; None if it already was."""
    with transaction.atomic():
        room, role = _lock(room_slug=room_slug, actor=actor, as_admin=as_admin)
        _not_dm(room)
        _require(as_admin or role in MANAGERS, "Only owners and moderators archive a room.")
        if room.is_archived == archived:
            _nothing_changed()
            return None
        room.is_archived = archived
        room.save(update_fields=["is_archived"])
        event = "room.archived" if archived else "room.unarchived"
        line = system_line_record(room=room, event=event, actor=actor)
        room_announce(
            room, kind="room.archived" if archived else "room.updated", was_public=not room.is_private
        )
        return line


# --- announcing ----------------------------------------------------------------------


def room_announce(room: Room, *, kind: str, was_public: bool) -> None:
    """After commit, one event to the lobby group; each connection decides whether its user may see
    it (public, or a member), adds its user's role (and a DM's title), and drops a room that turned
    private from a non-member (chat/protocol/handlers/subscriptions.py). Read inside the transaction,
    so the roles are those this change committed."""
    roles = dict(Membership.objects.filter(room=room).values_list("user_id", "role"))
    event = {
        "type": "chat.room_changed",
        "room_id": room.pk,
        "private": room.is_private,
        "was_public": was_public,
        "member_ids": list(roles) if room.is_private else [],
        # {user id (as text): role}: the members' roles after the change (others see role null).
        "roles": {str(user_id): role for user_id, role in roles.items()},
        "text": events.encode({"type": kind, "room": {**events.room_frame(room), "role": None}}),
    }
    if room.kind == Room.Kind.DM:
        event["dm_members"] = sorted(room_info.dm_members_of(room_ids=[room.pk]).get(room.pk, []))
    transaction.on_commit(partial(events.publish, groups.LOBBY_GROUP, event), robust=True)
