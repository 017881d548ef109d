"""The room object as one viewer sees it, and a room's member list: reads, with the access rule.

`events.room_frame` is what every viewer shares; this adds the viewer's `role` (None when not a
member), and for a DM its `members` and a `title` made of the other members' names.
"""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from chat.models import Membership, Room
from chat.realtime import events

User = AbstractBaseUser | AnonymousUser

# Members listed by `room.members`, owners first.
ROLE_ORDER = {"owner": 0, "moderator": 1, "member": 2}
MAX_MEMBERS_LISTED = 1000


def dm_title(members: Iterable[str], viewer: str | None) -> str:
    """A DM's title for a viewer: the other members' names (the viewer's own when alone)."""
    names = sorted(members)
    others = [name for name in names if name != viewer]
    return ", ".join(others or names)[:120]


def room_object(
    room: Room, *, role: str | None, dm_members: list[str] | None = None, viewer: str | None = None
) -> dict[str, Any]:
    """The room frame for one viewer (their role, and for a DM its members and title)."""
    frame = events.room_frame(room)
    frame["role"] = role
    if room.kind == Room.Kind.DM and dm_members is not None:
        frame["members"] = sorted(dm_members)
        frame["title"] = dm_title(dm_members, viewer)
    return frame


def roles_of(*, user: User, room_ids: Iterable[int]) -> dict[int, str]:
    """The user's role in each of these rooms they are a member of."""
    if not user.is_authenticated:
        return {}
    rows = Membership.objects.filter(user=user, room_id__in=list(room_ids)).values_list("room_id", "role")
    return dict(rows)


def role_in(*, room: Room, user: User) -> str | None:
    """The user's role in the room, or None if they are not a member."""
    return roles_of(user=user, room_ids=[room.pk]).get(room.pk)


def dm_members_of(*, room_ids: Iterable[int]) -> dict[int, list[str]]:
    """The members' usernames of each DM among these rooms."""
    result: dict[int, list[str]] = {}
    ids = list(room_ids)
    if not ids:  # a subscribe to a room that is not a DM: no query to build (0.6 ms of ORM work)
        return result
    rows = Membership.objects.filter(room_id__in=ids, room__kind=Room.Kind.DM).values_list(
        "room_id", "user__username"
    )
    for room_id, username in rows:
        result.setdefault(room_id, []).append(username)
    return result


def room_objects_for(*, rooms: list[Room], user: User) -> list[dict[str, Any]]:
    """room_object() of each room for this viewer, in three queries whatever the number of rooms."""
    ids = [room.pk for room in rooms]
    roles = roles_of(user=user, room_ids=ids)
    dms = dm_members_of(room_ids=[room.pk for room in rooms if room.kind == Room.Kind.DM])
    viewer = user.get_username() if user.is_authenticated else None
    return [
        room_object(room, role=roles.get(room.pk), dm_members=dms.get(room.pk), viewer=viewer)
        for room in rooms
    ]


def room_object_for(*, room: Room, user: User) -> dict[str, Any]:
    """room_object() of one room for this viewer."""
    [frame] = room_objects_for(rooms=[room], user=user)
    return frame


def room_object_with_role(*, room: Room, user: User, role: str | None) -> dict[str, Any]:
    """room_object_for() when the viewer's role is known (selectors.room_get_readable_with_role):
    a query only for a DM's members."""
    dm_members = dm_members_of(room_ids=[room.pk]).get(room.pk) if room.kind == Room.Kind.DM else None
    viewer = user.get_username() if user.is_authenticated else None
    return room_object(room, role=role, dm_members=dm_members, viewer=viewer)


def room_members(*, room: Room) -> list[tuple[int, str, str]]:
    """A room's members as (user id, username, role), owners first, then moderators, then by name;
    at most MAX_MEMBERS_LISTED. The caller checked that the viewer may read the room."""
    rows = Membership.objects.filter(room=room, user__is_active=True).values_list(
        "user_id", "user__username", "role"
    )
    members = sorted(rows, key=lambda row: (ROLE_ORDER.get(row[2], 9), row[1]))
    return members[:MAX_MEMBERS_LISTED]
