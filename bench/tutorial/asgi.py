"""ASGI app of the tutorial baseline: /ws/chat/<room>/ on RedisChannelLayer (BENCH_REDIS_URL)."""

import os

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": os.environ.get("BENCH_LAYER", "channels_redis.core.RedisChannelLayer"),
            # The same redis-py 8 fix as the product, or the baseline would crash every 5 s.
            "CONFIG": {"hosts": [{"address": os.environ["BENCH_REDIS_URL"], "socket_timeout": None}]},
        }
    },
)
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.tutorial.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/chat/<str:room_name>/", ChatConsumer.as_asgi())])}
)
