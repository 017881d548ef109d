"""The SockJS WebSocket endpoints: framed (/<server>/<session>/websocket) and raw (/websocket).

A WebSocket session lives exactly as long as its socket, on the node that holds it, so it
needs none of the cross-node routing of the HTTP sessions.
"""

import asyncio
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from chat.protocol import closecodes
from chat.transports.auth import scope_meta
from chat.transports.sockjs import framing
from chat.transports.sockjs.endpoints import Endpoint
from chat.transports.sockjs.handlers import Handler, make_handler
from chat.transports.websocket import ChatWebsocketConsumer


class SockJSWebSocketConsumer(ChatWebsocketConsumer):
    """SockJS framing over one WebSocket: "o", "h", a[...] and c[...] frames out, JSON arrays in."""

    endpoint: Endpoint | None = None
    framed = True
    handler: Handler | None = None
    heartbeat: asyncio.Task | None = None

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint):
        """An ASGI app of this consumer bound to one endpoint (as_asgi() drops init arguments)."""
        return type(cls.__name__, (cls,), {"endpoint": endpoint}).as_asgi()

    async def connect(self) -> None:
        await self.accept()
        if self.endpoint.chat and not self.endpoint.anonymous:
            user = self.scope.get("user")
            if user is None or not user.is_authenticated:
                await self.close(closecodes.UNAUTHENTICATED, closecodes.REASONS[closecodes.UNAUTHENTICATED])
                return
        session = self.scope.get("session")
        self.handler = make_handler(
            self.endpoint.name,
            self,
            user=self.scope.get("user"),
            session_key=session.session_key if session is not None else None,
            layer=self.channel_layer,
            channel_name=self.channel_name,
            transport="sockjs-websocket" if self.framed else "websocket",
            meta=scope_meta(self.scope),
        )
        if self.framed:
            await super().send(text_data=framing.OPEN)
            self.heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        await self.handler.opened()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.endpoint.heartbeat)
            await super().send(text_data=framing.HEARTBEAT)

    # Connection API for the handler.
    async def send(self, text: str) -> None:  # type: ignore[override]
        await super().send(text_data=framing.messages([text]) if self.framed else text)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:  # type: ignore[override]
        if self.framed and code is not None:
            await super().send(text_data=framing.close(code, reason or ""))
            await super().close(code=1000)
        else:
            await super().close(code=code, reason=reason)
        await self._finish()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.handler is None:
            return
        if not self.framed:
            await self.handler.received(text_data if text_data is not None else "")
            return
        if not text_data:
            return  # empty frames are ignored, as the protocol asks
        try:
            messages = framing.parse_messages(text_data, single_allowed=True)
        except framing.BrokenJson:
            # The protocol: broken JSON ends the connection at once.
            await super().close(code=closecodes.BROKEN_JSON, reason="Broken JSON encoding.")
            await self._finish()
            return
        for message in messages:
            await self.handler.received(message)

    async def disconnect(self, code: int) -> None:
        await self._finish()

    async def _finish(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            self.heartbeat = None
        handler, self.handler = self.handler, None
        if handler is not None:
            await handler.closed()

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"].startswith("chat."):
            if self.handler is not None:
                await self.handler.event(message)
        else:
            await super().dispatch(message)


class RawWebSocketConsumer(SockJSWebSocketConsumer):
    """The raw endpoint: plain WebSocket messages, no SockJS framing."""

    framed = False


class RefusingConsumer(AsyncWebsocketConsumer):
    """WebSocket is disabled for this endpoint."""

    async def connect(self) -> None:
        await self.close()
