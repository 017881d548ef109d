"""ASGI entry point: HTTP to Django (and SockJS under /sockjs/ and the STOMP path), WebSocket to
the chat consumers."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.transports.auth import SessionAuthMiddlewareStack  # noqa: E402
from chat.transports.routing import websocket_urlpatterns  # noqa: E402
from chat.transports.sockjs import routing as sockjs_routing  # noqa: E402
from chat.transports.stomp import routing as stomp_routing  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": sockjs_routing.http_app(django_asgi_app),
        # A foreign, "null" or missing Origin is refused at the handshake (HTTP 403).
        # STOMP (CHAT_STOMP_PATH) checks Origin its own way: none is allowed for non-browser
        # clients, which then sign in with CONNECT's login/passcode (docs/stomp.md).
        "websocket": stomp_routing.websocket_app(
            sockjs_routing.websocket_app(
                websocket_urlpatterns,
                lambda app: AllowedHostsOriginValidator(SessionAuthMiddlewareStack(app)),
            )
        ),
    }
)
