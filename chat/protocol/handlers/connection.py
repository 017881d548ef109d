"""The connection itself: ping, and the end of the login session (or API token) it was opened with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.protocol import closecodes

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


async def ping(session: ChatSession, frame: dict[str, Any]) -> None:
    """`ping` -> `pong`."""
    await session.send({"type": "pong"})


async def session_ended(session: ChatSession, event: dict[str, Any]) -> None:
    """A login session was ended (logout, deleted): close the connections opened with it."""
    if session.session_fingerprint is not None and event["session"] == session.session_fingerprint:
        await session.end(closecodes.UNAUTHENTICATED)


async def user_sessions_ended(session: ChatSession, event: dict[str, Any]) -> None:
    """Every session of this user ended (deactivated, deleted, password changed): close."""
    await session.end(closecodes.UNAUTHENTICATED)


async def api_token_revoked(session: ChatSession, event: dict[str, Any]) -> None:
    """An API token was revoked: close the connections that signed in with it."""
    if session.api_token_id is not None and event["token"] == session.api_token_id:
        await session.end(closecodes.UNAUTHENTICATED)


FRAMES = {"ping": ping}
EVENTS = {
    "chat.session_ended": session_ended,
    "chat.user_sessions_ended": user_sessions_ended,
    "chat.api_token_revoked": api_token_revoked,
}
