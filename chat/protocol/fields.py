"""Readers of a client frame's fields: each returns the checked value or raises InvalidField."""

import re
from typing import Any

from chat.domain.errors import InvalidField

# Always fullmatch: `$` also matches before a trailing newline ("general\n" would pass).
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,64}")


def room_slug(frame: dict[str, Any]) -> str:
    """The frame's `room`: a room slug."""
    slug = frame.get("room")
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidField("room must be a room slug (1-64 of a-z A-Z 0-9 - _).")
    return slug


def optional_int(frame: dict[str, Any], name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    """An optional integer field within bounds (booleans are not integers here)."""
    value = frame.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InvalidField(f"{name} must be an integer {bounds}.")
    return value


def string(frame: dict[str, Any], name: str) -> str:
    """A required string field."""
    value = frame.get(name)
    if not isinstance(value, str):
        raise InvalidField(f"{name} must be a string.")
    return value


def message_id(frame: dict[str, Any], name: str = "id") -> int:
    """A required message id."""
    value = optional_int(frame, name, minimum=1, maximum=2**63 - 1)
    if value is None:
        raise InvalidField(f"{name} must be a message id.")
    return value


def ref(frame: Any) -> str | None:
    """What an answer or error frame points at: the client's `ref`, else its client_msg_id, else the
    frame's type.

    Echoed as sent, except that a lone surrogate (valid in JSON, not encodable as UTF-8, so not
    sendable in a text frame) becomes its escape: `"\\ud800"`, six characters.
    """
    if not isinstance(frame, dict):
        return None
    for key in ("ref", "client_msg_id", "type"):
        value = frame.get(key)
        if isinstance(value, str):
            return value[:64].encode("utf-8", "backslashreplace").decode("utf-8")
    return None
