"""What runs inside a SockJS session: the chat protocol, or the conformance suite's services.

A handler talks to its transport through a Connection (send one message, close with a code),
so the same handler serves the HTTP sessions and the WebSocket endpoints.
"""

from typing import Any, Protocol

from chat.protocol import closecodes
from chat.protocol.session import ChatSession


class Connection(Protocol):
    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Handler:
    """Default: ignore everything."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def opened(self) -> None:
        pass

    async def received(self, text: str) -> None:
        pass

    async def event(self, message: dict[str, Any]) -> None:
        pass

    async def closed(self) -> None:
        pass


class EchoHandler(Handler):
    async def received(self, text: str) -> None:
        await self.connection.send(text)


class CloseHandler(Handler):
    async def opened(self) -> None:
        await self.connection.close(3000, "Go away!")


class ChatHandler(Handler):
    """The chat protocol of /ws/ (chat/protocol.py), one SockJS message per JSON frame."""

    def __init__(self, connection: Connection, *, user, session_key, layer, channel_name, transport) -> None:
        super().__init__(connection)
        self.chat = ChatSession(
            user=user,
            session_key=session_key,
            layer=layer,
            channel_name=channel_name,
            send_text=connection.send,
            close=self._close,
            transport=transport,
        )

    async def _close(self, code: int) -> None:
        await self.connection.close(code, closecodes.REASONS.get(code, "Closed"))

    async def opened(self) -> None:
        refused = await self.chat.open()
        if refused is not None:
            await self._close(refused)

    async def received(self, text: str) -> None:
        if not self.chat.closed:
            await self.chat.receive_text(text)

    async def event(self, message: dict[str, Any]) -> None:
        if message["type"].startswith("chat.") and not self.chat.closed:
            await self.chat.receive_event(message)

    async def closed(self) -> None:
        if not self.chat.closed:
            await self.chat.shutdown()


def make_handler(name: str, connection: Connection, **chat_context) -> Handler:
    if name == "chat":
        return ChatHandler(connection, **chat_context)
    return {"echo": EchoHandler, "close": CloseHandler}[name](connection)
