"""ASGI entry point: HTTP to Django (and SockJS under /sockjs/), WebSocket to the chat consumers."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.sockjs import routing as sockjs_routing  # noqa: E402

sockjs_chat_routes, sockjs_conformance_routes = sockjs_routing.websocket_routes()

application = ProtocolTypeRouter(
    {
        "http": sockjs_routing.http_app(django_asgi_app),
        "websocket": URLRouter(
            [
                # The conformance suite's services (only with SOCKJS_CONFORMANCE=1) are anonymous.
                *sockjs_conformance_routes,
                # A foreign, "null" or missing Origin is refused at the handshake (HTTP 403).
                path(
                    "",
                    AllowedHostsOriginValidator(
                        AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, *sockjs_chat_routes]))
                    ),
                ),
            ]
        ),
    }
)
