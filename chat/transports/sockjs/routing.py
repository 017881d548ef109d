"""Where the SockJS endpoints are mounted: HTTP paths and WebSocket routes."""

from channels.routing import URLRouter
from django.urls import re_path

from chat.transports.auth import SessionAuthMiddlewareStack
from chat.transports.sockjs.endpoints import CONFORMANCE_PREFIX, Endpoint, chat_endpoint, mounted
from chat.transports.sockjs.http import SockJSHttpApp
from chat.transports.sockjs.websocket import RawWebSocketConsumer, RefusingConsumer, SockJSWebSocketConsumer
from chat.transports.websocket import ChatConsumer


class HttpRouter:
    """HTTP under a SockJS prefix goes to the SockJS app, everything else to Django."""

    def __init__(self, django_app, endpoints: list[Endpoint]) -> None:
        self.django_app = django_app
        self.prefixes = tuple(endpoint.prefix for endpoint in endpoints)
        self.sockjs_app = SessionAuthMiddlewareStack(SockJSHttpApp(endpoints))

    async def __call__(self, scope, receive, send) -> None:
        route = scope["path"]
        if any(route == prefix or route.startswith(prefix + "/") for prefix in self.prefixes):
            await self.sockjs_app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)


def _websocket_routes(endpoint: Endpoint) -> list:
    # \Z, not $: channels' URLRouter searches with the pattern, and `$` matches before a trailing
    # newline (a path may hold one, percent-encoded).
    base = endpoint.prefix.lstrip("/")
    if not endpoint.websocket:
        return [re_path(rf"^{base}/(?s:.*)\Z", RefusingConsumer.as_asgi())]
    raw = ChatConsumer.as_asgi() if endpoint.chat else RawWebSocketConsumer.for_endpoint(endpoint)
    return [
        re_path(rf"^{base}/websocket\Z", raw),
        re_path(rf"^{base}/[^/.]+/[^/.]+/websocket\Z", SockJSWebSocketConsumer.for_endpoint(endpoint)),
    ]


def http_app(django_app):
    return HttpRouter(django_app, mounted())


def websocket_app(chat_routes: list, protect):
    """The WebSocket application: the chat's routes (/ws/ and SockJS) behind `protect` (Origin
    check and session auth), and the conformance suite's anonymous services if mounted."""
    chat_app = protect(URLRouter([*chat_routes, *_websocket_routes(chat_endpoint())]))
    conformance = [
        route for endpoint in mounted() if not endpoint.chat for route in _websocket_routes(endpoint)
    ]
    if not conformance:
        return chat_app
    conformance_app = URLRouter(conformance)

    async def app(scope, receive, send):
        if scope["path"].startswith(CONFORMANCE_PREFIX + "/"):
            return await conformance_app(scope, receive, send)
        return await chat_app(scope, receive, send)

    return app
