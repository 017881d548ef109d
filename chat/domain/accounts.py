"""Writes that end a user's access: login sessions ended or deleted, accounts deactivated or their
password changed. Each closes the sockets concerned on every node, after commit."""

import hashlib
from functools import partial

from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.domain import selectors
from chat.realtime import events, groups

# A socket lives as long as the login session it was opened with would still sign in an HTTP
# request: the session exists, its user is active, and its auth hash matches the user's password.
# These services end sockets at once, on every node, when one of those stops being true; each
# node's repair loop (chat/protocol/repair.py) also re-checks its sockets every tick, in case the
# event is lost.


def session_fingerprint(session_key: str) -> str:
    """A digest of a session key that is safe to send over the channel layer."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def session_end(*, user_id: int, session_key: str) -> None:
    """Close every socket that was opened with this session (on every node), after commit."""
    event = {"type": "chat.session_ended", "session": session_fingerprint(session_key)}
    transaction.on_commit(partial(events.publish, groups.user_group(user_id), event), robust=True)


@transaction.atomic
def session_delete(*, session_key: str) -> None:
    """Delete a login session (the operator's "sign this session out") and close its sockets."""
    store = selectors.session_store_class()
    user_id = store(session_key).get(SESSION_KEY)
    store().delete(session_key)
    if user_id is not None:
        session_end(user_id=get_user_model()._meta.pk.to_python(user_id), session_key=session_key)


def user_sessions_end(*, user_id: int) -> None:
    """Close every socket of a user, on every node, after commit: the account was deactivated or
    deleted, or its password changed (which invalidates every session of the user)."""
    event = {"type": "chat.user_sessions_ended"}
    transaction.on_commit(partial(events.publish, groups.user_group(user_id), event), robust=True)


def user_sessions_end_on_change(*, user: AbstractBaseUser, before: tuple[str, bool] | None) -> bool:
    """After a save of `user` over its stored (password hash, is_active) `before`: end its sockets
    if the password changed (every session's auth hash changes with it) or the account was
    deactivated. Returns whether it did."""
    if before is None:
        return False
    password, was_active = before
    if password == user.password and (user.is_active or not was_active):
        return False
    user_sessions_end(user_id=user.pk)
    return True
