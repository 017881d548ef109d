"""Direct messages: a private room (kind "dm") whose members are a set of 2 to CHAT_DM_MAX_MEMBERS
people, one conversation per set (docs/rooms.md, "Direct messages").

The set's sorted member ids are the room's unique `dm_key`: opening a conversation with the same
people again, from any node and even at the same moment, gives the same room (the loser of a race
hits the unique constraint and reads the winner's). The slug is random ("dm-" and 20 url-safe
characters), so that it names nothing and cannot be guessed. Members may leave; opening the set
again brings every member of it back.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from chat.domain import room_info
from chat.domain.errors import InvalidField, NotFound
from chat.domain.rooms import room_announce, room_check_create_rate
from chat.models import Membership, Room


def dm_key(user_ids: list[int]) -> str:
    """The unique key of a set of members."""
    return ",".join(str(user_id) for user_id in sorted(set(user_ids)))


def _dm_slug() -> str:
    return "dm-" + secrets.token_urlsafe(15)  # 20 characters of [A-Za-z0-9_-]: 120 random bits


def _others(*, opener: AbstractBaseUser, usernames: object) -> list[AbstractBaseUser]:
    """The other members named: 1 to CHAT_DM_MAX_MEMBERS - 1 active users (the opener dropped)."""
    limit = settings.CHAT_DM_MAX_MEMBERS
    if (
        not isinstance(usernames, list)
        or not usernames
        or len(usernames) > limit
        or not all(isinstance(name, str) and 0 < len(name) <= 150 for name in usernames)
    ):
        raise InvalidField(f"users must be a list of 1 to {limit - 1} usernames.")
    names = set(usernames) - {opener.get_username()}
    if not names:
        raise InvalidField("users must name someone besides you.")
    if len(names) > limit - 1:
        raise InvalidField(f"A conversation has at most {limit} members.")
    users = list(get_user_model()._default_manager.filter(username__in=names, is_active=True))
    missing = names - {user.get_username() for user in users}
    if missing:
        raise NotFound(f"No user {sorted(missing)[0]!r}.")
    return users


def dm_open(*, opener: AbstractBaseUser, usernames: object) -> tuple[Room, bool]:
    """The conversation of the opener and these users, created if there is none; (room, created).

    A new conversation counts toward the opener's room creation limit (CHAT_ROOM_CREATE_LIMIT).
    Members who had left it are members again, and it appears in their room list live.
    """
    members = [opener, *_others(opener=opener, usernames=usernames)]
    key = dm_key([user.pk for user in members])
    existing = Room.objects.filter(dm_key=key).first()
    if existing is not None:
        return _rejoin(existing, members), False
    with transaction.atomic():
        names = sorted(user.get_username() for user in members)
        room = Room(
            kind=Room.Kind.DM,
            dm_key=key,
            slug=_dm_slug(),
            title=room_info.dm_title(names, None),
            is_private=True,
            creator=opener,
        )
        # The unique key first, before any other row lock: two nodes opening the same set wait here
        # for each other, not in a cycle (the rate check locks the opener's row, the memberships'
        # foreign keys share-lock every member's row).
        try:
            with transaction.atomic():
                room.save(force_insert=True)
        except IntegrityError:  # another node opened the same set meanwhile
            room = Room.objects.get(dm_key=key)
            return _rejoin(room, members), False
        if not getattr(opener, "is_staff", False):
            room_check_create_rate(creator=opener, excluding=room.pk)
        Membership.objects.bulk_create([Membership(room=room, user=user) for user in members])
        room_announce(room, kind="room.created", was_public=False)
    return room, True


def _rejoin(room: Room, members: list[AbstractBaseUser]) -> Room:
    with transaction.atomic():
        present = set(Membership.objects.filter(room=room).values_list("user_id", flat=True))
        back = [user for user in members if user.pk not in present]
        if back:
            Membership.objects.bulk_create(
                [Membership(room=room, user=user) for user in back], ignore_conflicts=True
            )
            room_announce(room, kind="room.updated", was_public=False)
    return room
