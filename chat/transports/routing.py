"""WebSocket URLs."""

from django.urls import path

from chat.transports.websocket import ChatConsumer

websocket_urlpatterns = [
    path("ws/", ChatConsumer.as_asgi()),
]
