"""Writes about how users sign in and when that ends: login sessions ended or deleted, accounts
deactivated or their password changed, API tokens created and revoked. Each ending closes the
connections concerned on every node, after commit."""

import hashlib
from functools import partial

from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat.domain import selectors, tokens
from chat.models import ApiToken
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


# --- API tokens ----------------------------------------------------------------------
# For clients that cannot use the session cookie (STOMP's `Authorization: Bearer`). A connection
# opened with a token lives as long as the token: revoking it closes them on every node.


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new token of `user`; returns (token, secret). The secret is shown once: only its digest is stored."""
    prefix, secret = tokens.token_new()
    token = ApiToken(user=user, name=name.strip(), prefix=prefix, secret_hash=tokens.token_digest(secret))
    token.full_clean()
    token.save()
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke a token (no new connection signs in with it) and close its connections on every node, after commit."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    event = {"type": "chat.api_token_revoked", "token": token.pk}
    transaction.on_commit(partial(events.publish, groups.user_group(token.user_id), event), robust=True)


def api_token_used(*, token: ApiToken) -> None:
    """Note that a connection signed in with the token just now."""
    token.last_used_at = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=token.last_used_at)
