"""Users' profiles: `users.fetch` -> `users`, `users.search` -> `users` (the people a client may
pick, e.g. for a direct message), and `user.updated` to the connections that fetched them.

Who receives `user.updated`: a profile change is one event to the lobby group (one publish, every
node), and each connection forwards it only if it fetched that user with `users.fetch` (it shows
them) - a set look-up per connection of each node, and a frame only where it is wanted. A
connection that fetched more than CHAT_USERS_WATCH_MAX users gets every update instead (bounded
memory, never a missed update). Nothing is replayed: a client fetches again after reconnecting.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain import profile_selectors
from chat.domain.errors import InvalidField
from chat.protocol import fields, searching

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession

USERNAME_MAX = 150
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _usernames(frame: dict[str, Any]) -> list[str]:
    value = frame.get("users")
    limit = settings.CHAT_USERS_FETCH_MAX
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= limit
        or not all(isinstance(name, str) and 0 < len(name) <= USERNAME_MAX for name in value)
    ):
        raise InvalidField(f"users must be a list of 1 to {limit} usernames.")
    if any(_UNSTORABLE.search(name) for name in value):
        # No username has them, and a database could not even compare them (a lone surrogate is
        # valid JSON but not UTF-8; PostgreSQL refuses NUL).
        raise InvalidField("users must not hold control characters or lone surrogates.")
    return value


def _query(frame: dict[str, Any]) -> str:
    value = frame.get("query")
    if not isinstance(value, str) or not 0 < len(value.strip()) <= USERNAME_MAX:
        raise InvalidField(f"query must be a string of 1 to {USERNAME_MAX} characters.")
    if _UNSTORABLE.search(value):
        raise InvalidField("query must not hold control characters or lone surrogates.")
    return value.strip()


def _watch(session: ChatSession, user_ids: list[int]) -> None:
    if session.watched_user_ids is None:
        return  # already watching everyone
    session.watched_user_ids.update(user_ids)
    if len(session.watched_user_ids) > settings.CHAT_USERS_WATCH_MAX:
        session.watched_user_ids = None


async def users_fetch(session: ChatSession, frame: dict[str, Any]) -> None:
    """`users.fetch {users: [usernames]}` -> `users {users: [user objects]}` (unknown and deactivated
    users absent); from then on this connection gets `user.updated` for them."""
    names = _usernames(frame)
    found = await database_sync_to_async(profile_selectors.users_by_username)(usernames=names)
    _watch(session, [user_id for user_id, _ in found])
    await session.send({"type": "users", "ref": fields.ref(frame), "users": [user for _, user in found]})


async def users_search(session: ChatSession, frame: dict[str, Any]) -> None:
    """`users.search {query}` -> `users {users: [user objects]}`: active users whose username or
    display name starts with the query, at most CHAT_USERS_SEARCH_MAX; rate-limited, on the node's
    search threads (chat/protocol/searching.py). Not watched: a client fetches the ones it goes on
    showing."""
    found = await searching.users_search(user=session.user, query=_query(frame))
    await session.send({"type": "users", "ref": fields.ref(frame), "users": found})


async def user_updated(session: ChatSession, event: dict[str, Any]) -> None:
    """A user's profile changed: forward the frame if this connection fetched that user."""
    watched = session.watched_user_ids
    if watched is None or event["user_id"] in watched:
        await session.send_text(event["text"])


FRAMES = {"users.fetch": users_fetch, "users.search": users_search}
EVENTS = {"chat.user_updated": user_updated}
