"""STOMP over a plain WebSocket, at <CHAT_STOMP_PATH> and <CHAT_STOMP_PATH>/websocket."""

from chat.transports.auth import scope_meta
from chat.transports.stomp.session import StompHandler
from chat.transports.websocket import ChatWebsocketConsumer

# The WebSocket subprotocols of STOMP, best first.
SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")


class StompConsumer(ChatWebsocketConsumer):
    """One STOMP connection per socket; one STOMP frame per WebSocket message."""

    direct_delivery = True  # it receives directly before it joins a group (ChatWebsocketConsumer)
    handler: StompHandler | None = None
    direct = None  # chat/realtime/layer.py's DirectReceiver, as for /ws/

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        chosen = next((protocol for protocol in SUBPROTOCOLS if protocol in offered), None)
        session = self.scope.get("session")
        self.handler = StompHandler(
            self,
            user=self.scope.get("user"),
            session_key=session.session_key if session is not None else None,
            layer=self.channel_layer,
            channel_name=self.channel_name,
            transport="stomp-websocket",
            meta=scope_meta(self.scope),
        )
        self.direct = self.channel_layer.receive_directly(self.channel_name, self.handler.event)
        await self.accept(subprotocol=chosen)

    # Connection API for the handler.
    async def send(self, text: str) -> None:  # type: ignore[override]
        await self.base_send({"type": "websocket.send", "text": text})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.handler is None:
            return
        async with self.direct.exclusive():
            await self.handler.received(text_data if text_data is not None else bytes_data or b"")

    async def disconnect(self, code: int) -> None:
        if self.direct is not None:
            self.channel_layer.stop_receiving_directly(self.channel_name)
        handler, self.handler = self.handler, None
        if handler is not None:
            await handler.closed()
