"""Searching the messages a user may read: `search` -> `search.results`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chat.domain import search
from chat.domain.errors import InvalidField
from chat.protocol import fields, searching

if TYPE_CHECKING:
    from chat.protocol.session import ChatSession


def _optional_string(frame: dict[str, Any], name: str, *, max_length: int = 150) -> str | None:
    value = frame.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise InvalidField(f"{name} must be a string of 1 to {max_length} characters.")
    return value


def _optional_bool(frame: dict[str, Any], name: str) -> bool | None:
    value = frame.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidField(f"{name} must be true or false.")
    return value


async def message_search(session: ChatSession, frame: dict[str, Any]) -> None:
    """`search {query, room?, author?, before?, after?, has_file?, order?, limit?, cursor?}` ->
    `search.results {query, results, next}`; rate-limited, on the node's search threads
    (chat/protocol/searching.py)."""
    room = fields.room_slug(frame) if frame.get("room") is not None else None
    page = await searching.messages_search(
        user=session.user,
        query=frame.get("query"),
        room=room,
        author=_optional_string(frame, "author"),
        before=search.search_datetime(frame.get("before"), "before", end_of_day=True),
        after=search.search_datetime(frame.get("after"), "after"),
        has_file=_optional_bool(frame, "has_file"),
        order=frame.get("order") or "newest",
        limit=fields.optional_int(frame, "limit", minimum=1, maximum=50),
        cursor=_optional_string(frame, "cursor", max_length=16),
    )
    await session.send(
        {
            "type": "search.results",
            "ref": fields.ref(frame),
            "results": page.results,
            "next": page.next,
        }
    )


FRAMES = {"search": message_search}
EVENTS: dict[str, Any] = {}
