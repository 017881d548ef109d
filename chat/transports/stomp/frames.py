"""STOMP frames: parsing and encoding (STOMP 1.0, 1.1 and 1.2), one transport message at a time.

Over WebSocket and SockJS a message carries whole frames (every STOMP client over WebSocket sends one
frame per message), so a message that ends inside a frame is refused rather than buffered: a frame
without its NUL is an error, not a wait. End-of-line heart-beats between frames are skipped.
"""

from dataclasses import dataclass, field

MAX_FRAME_BYTES = 64 * 1024
MAX_HEADERS = 64

CLIENT_COMMANDS = frozenset(
    {
        "CONNECT",
        "STOMP",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
    }
)

# Header escaping of STOMP 1.1 (1.2 adds \r); CONNECT and CONNECTED frames are never escaped.
_ESCAPES = {"\\": "\\\\", "\n": "\\n", ":": "\\c"}
_ESCAPES_12 = {**_ESCAPES, "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "c": ":"}
_UNESCAPES_12 = {**_UNESCAPES, "r": "\r"}


class FrameError(Exception):
    """A malformed frame; the message is what the ERROR frame says."""


@dataclass
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def text(self) -> str:
        return self.body.decode("utf-8")


def _escape(value: str, version: str) -> str:
    table = _ESCAPES_12 if version == "1.2" else _ESCAPES
    return "".join(table.get(char, char) for char in value)


def _unescape(value: str, version: str) -> str:
    if "\\" not in value:
        return value
    table = _UNESCAPES_12 if version == "1.2" else _UNESCAPES
    out, chars = [], iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        if escaped not in table:
            raise FrameError(f"Undefined escape sequence \\{escaped} in a header.")
        out.append(table[escaped])
    return "".join(out)


def encode(command: str, headers: dict[str, str], body: bytes = b"", *, version: str = "1.2") -> bytes:
    """One frame, with content-length when there is a body, NUL-terminated."""
    escaped = version != "1.0" and command != "CONNECTED"
    lines = [command]
    for name, value in headers.items():
        if escaped:
            name, value = _escape(name, version), _escape(str(value), version)
        else:
            value = str(value).replace("\n", " ")
        lines.append(f"{name}:{value}")
    if body:
        lines.append(f"content-length:{len(body)}")
    return ("\n".join(lines) + "\n\n").encode() + body + b"\x00"


def parse(data: bytes, *, version: str = "1.2") -> list[Frame]:
    """The frames of one transport message (heart-beat EOLs skipped); FrameError if malformed."""
    frames, position, size = [], 0, len(data)
    while True:
        while position < size and data[position] in b"\r\n":
            position += 1
        if position >= size:
            return frames
        frame, position = _parse_one(data, position, version)
        frames.append(frame)


def _parse_one(data: bytes, start: int, version: str) -> tuple[Frame, int]:
    head_end = data.find(b"\n\n", start)
    crlf_end = data.find(b"\r\n\r\n", start)
    if crlf_end != -1 and (head_end == -1 or crlf_end < head_end):
        head_end, body_start = crlf_end, crlf_end + 4
    elif head_end != -1:
        body_start = head_end + 2
    else:
        raise FrameError("Incomplete frame: no blank line after the headers (or no NUL).")
    if head_end - start > MAX_FRAME_BYTES:
        raise FrameError("Frame too large (limit 65536 bytes).")
    try:
        head = data[start:head_end].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("Headers are not valid UTF-8.") from None
    lines = head.replace("\r\n", "\n").split("\n")
    command = lines[0]
    if command not in CLIENT_COMMANDS:
        raise FrameError(f"Unknown command {command[:32]!r}.")
    if len(lines) - 1 > MAX_HEADERS:
        raise FrameError(f"Too many headers (limit {MAX_HEADERS}).")
    # CONNECT headers are never escaped (the version is not known yet).
    header_version = "1.0" if command in ("CONNECT", "STOMP") else version
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name:
            raise FrameError(f"Malformed header line {line[:64]!r}.")
        if header_version != "1.0":
            name, value = _unescape(name, header_version), _unescape(value, header_version)
        headers.setdefault(name, value)  # the first of repeated headers wins (1.2)
    length_header = headers.get("content-length")
    if length_header is not None:
        if not length_header.isdigit():
            raise FrameError("content-length is not a non-negative integer.")
        length = int(length_header)
        if length > MAX_FRAME_BYTES:
            raise FrameError("Frame too large (limit 65536 bytes).")
        end = body_start + length
        if end >= len(data) or data[end] != 0:
            raise FrameError("The body does not end with NUL after content-length bytes.")
    else:
        end = data.find(b"\x00", body_start)
        if end == -1:
            raise FrameError("Frame not terminated by NUL.")
    if end - start > MAX_FRAME_BYTES:
        raise FrameError("Frame too large (limit 65536 bytes).")
    return Frame(command, headers, data[body_start:end]), end + 1
