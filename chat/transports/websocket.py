"""WebSocket adapter: socket frames <-> ChatSession (chat/protocol/)."""

from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from chat.protocol import closecodes
from chat.protocol.session import ChatSession


class ChatWebsocketConsumer(AsyncWebsocketConsumer):
    """AsyncWebsocketConsumer without channels' thread hop before every client frame, and (with
    `direct_delivery`) without a channel of its own in Redis or tasks that read it.

    channels' dispatch() runs close_old_connections() through sync_to_async before each handler:
    a hop to a thread and back per frame, about 0.5 ms of a send's 5 ms on an idle node. Our consumers
    reach the database only through database_sync_to_async, whose thread handler closes old
    connections itself, before and after every call.

    channels' __call__ subscribes the consumer's channel in Redis (new_channel(): a round trip under
    the layer's lock per connection, and a subscription Redis holds for it) and reads it and the
    client in two tasks through asyncio.wait(), a new task per frame. A consumer whose group messages
    all come by direct delivery (chat/realtime/layer.py: it calls receive_directly() before it joins
    a group) never reads its channel: it gets a channel name of this process only, and reads the
    client's frames in this coroutine.
    """

    direct_delivery = False

    async def __call__(self, scope, receive, send) -> None:
        if not self.direct_delivery:
            return await super().__call__(scope, receive, send)
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = self.channel_layer.new_local_channel()
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            self.channel_layer.drop_local_channel(self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class ChatConsumer(ChatWebsocketConsumer):
    """One client's multiplexed socket at /ws/: any number of rooms over one connection."""

    direct_delivery = True
    session: ChatSession | None = None
    direct = None  # chat/realtime/layer.py's DirectReceiver for this socket's group messages

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept only to say why: browsers cannot read a refused handshake's status.
            await self.accept()
            await self.close(code=closecodes.UNAUTHENTICATED)
            return
        session = self.scope.get("session")
        self.session = ChatSession(
            user=user,
            session_key=session.session_key if session is not None else None,
            layer=self.channel_layer,
            channel_name=self.channel_name,
            send_text=self._send_text,
            close=self._close,
        )
        # Group messages come straight to the session (chat/realtime/layer.py, "direct delivery"), one at
        # a time, never while a client frame is being handled.
        self.direct = self.channel_layer.receive_directly(self.channel_name, self.session.receive_event)
        async with self.direct.exclusive():
            refused = await self.session.open()
            await self.accept()
        if refused is not None:
            self.session = None  # frames that arrive before the close are ignored
            await self.close(code=refused)

    async def _send_text(self, text: str) -> None:
        # What self.send(text_data=text) sends, minus two wrappers: this runs once per delivery.
        await self.base_send({"type": "websocket.send", "text": text})

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        async with self.direct.exclusive():
            if text_data is None:
                await self.session.receive_binary()
            else:
                await self.session.receive_text(text_data)

    async def disconnect(self, code: int) -> None:
        if self.direct is not None:
            self.channel_layer.stop_receiving_directly(self.channel_name)
        if self.session is not None:
            await self.session.shutdown()
            self.session = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channel-layer events of the chat go to the session; websocket.* to the base class.
        if message["type"].startswith("chat."):
            if self.session is not None:
                await self.session.receive_event(message)
        else:
            await super().dispatch(message)
