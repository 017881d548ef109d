"""Where STOMP is mounted: WebSocket at <CHAT_STOMP_PATH> and <CHAT_STOMP_PATH>/websocket, SockJS's
framed WebSocket under it (its HTTP transports are served with the other SockJS endpoints)."""

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.urls import re_path

from chat.transports.auth import SessionAuthMiddlewareStack
from chat.transports.sockjs.endpoints import stomp_endpoint
from chat.transports.sockjs.websocket import SockJSWebSocketConsumer
from chat.transports.stomp.websocket import StompConsumer


class OriginGuard:
    """A handshake with an Origin must come from an allowed host (else HTTP 403); one without an
    Origin is no browser's, so it is served without its cookies: it signs in with CONNECT's
    login/passcode (a cookie sent by a page of another site cannot be used: CSRF)."""

    def __init__(self, app) -> None:
        self.app = app
        self.validator = AllowedHostsOriginValidator(app)

    async def __call__(self, scope, receive, send):
        headers = scope.get("headers", [])
        if any(name == b"origin" for name, _ in headers):
            return await self.validator(scope, receive, send)  # "null" is refused too
        scope = dict(scope, headers=[(name, value) for name, value in headers if name != b"cookie"])
        return await self.app(scope, receive, send)


def _routes() -> list:
    base = settings.CHAT_STOMP_PATH.lstrip("/")
    return [
        re_path(rf"^{base}$", StompConsumer.as_asgi()),
        re_path(rf"^{base}/websocket$", StompConsumer.as_asgi()),
        re_path(rf"^{base}/[^/.]+/[^/.]+/websocket$", SockJSWebSocketConsumer.for_endpoint(stomp_endpoint())),
    ]


def websocket_app(other_app):
    """STOMP's WebSocket paths to STOMP, every other path to `other_app`."""
    prefix = settings.CHAT_STOMP_PATH
    stomp_app = OriginGuard(SessionAuthMiddlewareStack(URLRouter(_routes())))

    async def app(scope, receive, send):
        path = scope["path"]
        if path == prefix or path.startswith(prefix + "/"):
            return await stomp_app(scope, receive, send)
        return await other_app(scope, receive, send)

    return app
