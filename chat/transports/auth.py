"""Session authentication for the chat's sockets and SockJS requests, read-only.

channels' AuthMiddlewareStack wraps `send` so that it can save a modified session and set its
cookie; for a WebSocket that check runs on every outgoing frame (a few per cent of a node's CPU
under fan-out), and the chat never writes the session from a socket: logging in and out happen
over plain HTTP, through Django. So the session is opened read-only here, and the user is
resolved by channels' own AuthMiddleware, unchanged.
"""

from importlib import import_module

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings


class ReadOnlySessionMiddleware:
    """Puts the request's Django session (loaded on first use) in scope["session"]."""

    def __init__(self, app) -> None:
        self.app = app
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        return await self.app(dict(scope, session=self.store(session_key)), receive, send)


def SessionAuthMiddlewareStack(app):  # noqa: N802 (named like channels' AuthMiddlewareStack)
    return CookieMiddleware(ReadOnlySessionMiddleware(AuthMiddleware(app)))


def scope_meta(scope) -> dict[str, str]:
    """The parts of an ASGI scope's request that axes reads, as Django's request.META has them."""
    meta = {"REMOTE_ADDR": (scope.get("client") or ["", 0])[0] or "", "PATH_INFO": scope.get("path", "")}
    for name, value in scope.get("headers", []):
        key = name.decode("latin1").upper().replace("-", "_")
        if key in ("USER_AGENT", "X_FORWARDED_FOR", "ACCEPT"):
            meta["HTTP_" + key] = value.decode("latin1")
    return meta
