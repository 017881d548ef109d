"""Reads of users' profiles: the `users` objects of docs/protocol.md, an avatar by its key.

Profiles are shown to every signed-in user, as usernames are (a message's author, a DM's picker);
a deactivated account is treated as unknown: absent from answers, its avatar a 404.
"""

import hashlib
from collections.abc import Iterable
from typing import Any

import regex
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.urls import reverse

from chat.models import Profile, attachment_storage

# Initials avatars: white text on one of these backgrounds, each at least 4.5:1 against white
# (WCAG AA for normal text; tests/test_profiles.py checks it). The colour is chosen by a digest of
# the username, the same on every node and in every process (Python's hash() is not).
AVATAR_COLORS = (
    "#B91C1C",  # red
    "#C2410C",  # orange
    "#A16207",  # amber
    "#4D7C0F",  # lime
    "#15803D",  # green
    "#0F766E",  # teal
    "#0369A1",  # sky
    "#1D4ED8",  # blue
    "#6D28D9",  # violet
    "#A21CAF",  # fuchsia
    "#BE185D",  # pink
    "#475569",  # slate
)
_GRAPHEME = regex.compile(r"\X")


def avatar_storage():
    """Avatars are kept where attachments are (every node sees the same files)."""
    return attachment_storage()


def avatar_path(key: str, size: int) -> str:
    """The storage name of an avatar's square of `size` pixels."""
    return f"avatars/{key}/{int(size)}.webp"


def avatar_url(key: str, size: int) -> str:
    """The URL of an avatar's square: the key and the size only (nothing of the user), and a new
    key for every new avatar, so that it is cached for ever."""
    return reverse("avatar", args=[key, size])


def initials(name: str) -> str:
    """One or two letters for an initials avatar: the first characters (graphemes, so an emoji or a
    letter with accents stays whole) of the first and last words, or of the one word."""
    words = name.split()
    if not words:
        return "?"
    picked = [words[0], words[-1]] if len(words) > 1 else [words[0]]
    return "".join(_GRAPHEME.match(word)[0].upper() for word in picked)


def avatar_color(username: str) -> str:
    """The initials avatar's background colour for a username (stable across processes)."""
    digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).digest()
    return AVATAR_COLORS[int.from_bytes(digest[:4], "big") % len(AVATAR_COLORS)]


def user_dict(*, user: AbstractBaseUser, profile: Profile | None) -> dict[str, Any]:
    """A user as the `users` and `user.updated` frames carry it (docs/protocol.md)."""
    username = user.get_username()
    display_name = (profile.display_name if profile else "") or username
    key = profile.avatar_key if profile else ""
    small, large = min(settings.CHAT_AVATAR_SIZES), max(settings.CHAT_AVATAR_SIZES)
    return {
        "username": username,
        "display_name": display_name,
        "avatar_url": avatar_url(key, large) if key else None,
        "avatar_small_url": avatar_url(key, small) if key else None,
        "initials": initials(display_name),
        "color": avatar_color(username),
        "status": profile.status_text if profile else "",
        "time_zone": (profile.time_zone or None) if profile else None,
    }


def users_by_username(*, usernames: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    """(user id, user object) of the active users among these usernames, in the order asked (each
    once); unknown and deactivated ones are absent. One query."""
    wanted = list(dict.fromkeys(usernames))
    User = get_user_model()
    field = User.USERNAME_FIELD
    found = {
        user.get_username(): user
        for user in User.objects.filter(**{f"{field}__in": wanted, "is_active": True}).select_related(
            "chat_profile"
        )
    }
    result = []
    for name in wanted:
        user = found.get(name)
        if user is not None:
            result.append((user.pk, user_dict(user=user, profile=profile_of(user))))
    return result


def users_search(*, query: str, limit: int) -> list[dict[str, Any]]:
    """The active users whose username, display name or a word of it starts with `query` (case
    aside), at most `limit`, by username. One query; a prefix of the username uses its index, a
    display name is scanned (profiles are few next to messages; docs/protocol.md, `users.search`)."""
    User = get_user_model()
    field = User.USERNAME_FIELD
    match = (
        Q(**{f"{field}__istartswith": query})
        | Q(chat_profile__display_name__istartswith=query)
        | Q(chat_profile__display_name__icontains=" " + query)
    )
    found = User.objects.filter(match, is_active=True).select_related("chat_profile").order_by(field)[:limit]
    return [user_dict(user=user, profile=profile_of(user)) for user in found]


def profile_of(user: AbstractBaseUser) -> Profile | None:
    """The user's profile row, or None if they never wrote one (no query when select_related)."""
    try:
        return user.chat_profile
    except Profile.DoesNotExist:
        return None


def profile_of_user(*, user: AbstractBaseUser) -> Profile | None:
    """The user's profile row, or None if they never wrote one (one query)."""
    return Profile.objects.filter(user=user).first()


def user_dict_of(*, user: AbstractBaseUser) -> dict[str, Any]:
    """A user's own object (the profile page's preview)."""
    return user_dict(user=user, profile=profile_of_user(user=user))


def avatar_get_served(*, key: str, size: int) -> str | None:
    """The storage name of an avatar square to serve, or None (no such avatar, a replaced one, a
    deactivated user's, a size we do not make): the caller answers 404."""
    if size not in settings.CHAT_AVATAR_SIZES or not key:
        return None
    if not Profile.objects.filter(avatar_key=key, user__is_active=True).exists():
        return None
    return avatar_path(key, size)
