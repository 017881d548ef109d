"""Session authentication for the chat's sockets and SockJS requests, read-only.

channels' AuthMiddlewareStack wraps `send` so that it can save a modified session and set its
cookie; for a WebSocket that check runs on every outgoing frame (a few per cent of a node's CPU
under fan-out), and the chat never writes the session from a socket: logging in and out happen
over plain HTTP, through Django. So the session is opened read-only here, and the user is resolved
as Django's `get_user` resolves it for an HTTP request, minus its writes.

channels' own `get_user` differs from Django's: it deletes (flushes) a session whose auth hash does
not match, a write, and it ignores SECRET_KEY_FALLBACKS, so rotating the secret key would refuse
sockets whose sessions Django still accepts over HTTP. Ours accepts exactly the sessions that Django
would (hash checked against the current and the fallback keys), refuses inactive users whatever the
authentication backend, and writes nothing.
"""

from importlib import import_module

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.core.exceptions import ValidationError
from django.http import parse_cookie
from django.utils.crypto import constant_time_compare

from chat.domain import connection_reads

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
DB_SESSIONS = "django.contrib.sessions.backends.db"


def session_user(session):
    """The active user a session authenticates, or AnonymousUser; reads only.

    The session must exist and not be expired (the session store loads nothing otherwise), name a
    configured backend that still finds the user, carry the user's current session auth hash (it
    changes with the password), and the user must be active.
    """
    from django.contrib.auth.models import AnonymousUser  # needs the app registry ready

    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    if backend_path == MODEL_BACKEND:
        # ModelBackend.get_user, in one cached statement (connection_reads: this runs on every
        # connect); the is_active check below is its user_can_authenticate.
        user = connection_reads.user_by_pk(user_id)
    else:
        user = load_backend(backend_path).get_user(user_id)
    if user is None or not getattr(user, "is_active", False):
        return AnonymousUser()
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash or not any(
        constant_time_compare(session_hash, expected)
        for expected in (user.get_session_auth_hash(), *user.get_session_auth_fallback_hash())
    ):
        return AnonymousUser()
    return user


class SessionAuthMiddleware:
    """Puts the request's cookies, its Django session (read-only, loaded on first use) and the user
    that session authenticates (`session_user`) in the scope, before the application runs.

    What channels' CookieMiddleware, SessionMiddleware and AuthMiddleware put there, in one step: each
    of those is a coroutine that copies the scope and stays suspended, with its copy, for as long as
    the connection lives (AuthMiddleware twice), so four scope copies and four frames per idle
    socket; here one of each. scope["user"] is the user itself, not a lazy object around it.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        cookies: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        session = self.store(cookies.get(settings.SESSION_COOKIE_NAME))
        user = await database_sync_to_async(self.user_of)(session)
        return await self.app(dict(scope, cookies=cookies, session=session, user=user), receive, send)

    def user_of(self, session):
        """session_user(session); with the database session backend, the session row is read by one
        cached statement (connection_reads.session_data) and decoded by the store's own decode(),
        as its load() would, without the ORM query compiled anew on every connect."""
        if settings.SESSION_ENGINE != DB_SESSIONS:
            return session_user(session)
        key = session.session_key
        data = connection_reads.session_data(key) if key else None
        return session_user({} if data is None else session.decode(data))


def SessionAuthMiddlewareStack(app):  # noqa: N802 (named like channels' AuthMiddlewareStack)
    return SessionAuthMiddleware(app)


def scope_meta(scope) -> dict[str, str]:
    """The parts of an ASGI scope's request that axes reads, as Django's request.META has them."""
    meta = {"REMOTE_ADDR": (scope.get("client") or ["", 0])[0] or "", "PATH_INFO": scope.get("path", "")}
    for name, value in scope.get("headers", []):
        key = name.decode("latin1").upper().replace("-", "_")
        if key in ("USER_AGENT", "X_FORWARDED_FOR", "ACCEPT"):
            meta["HTTP_" + key] = value.decode("latin1")
    return meta
