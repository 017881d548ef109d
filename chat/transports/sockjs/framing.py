"""SockJS frames: o (open), h (heartbeat), a[...] (messages), c[code,"reason"] (close)."""

import functools
import json
import re

OPEN = "o"
HEARTBEAT = "h"

# Characters that browsers or proxies mangle in transit, and lone surrogates (not encodable in
# UTF-8), are sent as \uXXXX escapes; everything else goes verbatim (Korean stays 3 bytes, not 6).
_ESCAPE = re.compile("[\x00-\x1f\u200c-\u200f\u2028-\u202f\u2060-\u206f\ud800-\udfff\ufff0-\uffff]")


def _escape(text: str) -> str:
    return _ESCAPE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def encode(value) -> str:
    return _escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


# Only small frames are cached: every broadcast fits (a message of 4,000 characters is about 4,200),
# while a history page (up to ~1.2 MB, sent to one client) does not: 256 of those kept about
# 420 MiB pinned per node (docs/reliability.md). At most 256 x 8 K characters of text, encoded.
CACHED_MESSAGE_MAX_CHARS = 8192


def messages(texts: list[str]) -> str:
    if len(texts) == 1:
        text = texts[0]
        return _one_message(text) if len(text) <= CACHED_MESSAGE_MAX_CHARS else "a" + encode(texts)
    return "a" + encode(texts)


@functools.lru_cache(maxsize=256)
def _one_message(text: str) -> str:
    # A broadcast reaches every subscriber on a node as the same string: encode it once.
    return "a" + encode([text])


def close(code: int, reason: str) -> str:
    return "c" + encode([code, reason])


GO_AWAY = close(3000, "Go away!")
ANOTHER_CONNECTION = close(2010, "Another connection still open")
INTERRUPTED = close(1002, "Connection interrupted")
SESSION_LOST = close(1012, "Session lost, reconnect")


class BrokenJson(ValueError):
    pass


def parse_messages(payload: str, *, single_allowed: bool) -> list[str]:
    """Messages from a client payload: a JSON array of strings (or, on WebSocket, one string)."""
    try:
        value = json.loads(payload)
    except ValueError:
        raise BrokenJson() from None
    if single_allowed and isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BrokenJson()
    return value
