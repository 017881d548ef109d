"""The STOMP frame codec (chat/transports/stomp/frames.py), without a socket."""

import pytest

from chat.transports.stomp.frames import MAX_FRAME_BYTES, Frame, FrameError, encode, parse


def test_a_frame_round_trips_with_escaped_headers_and_content_length():
    data = encode("SEND", {"destination": "/a:b", "note": "line\nbreak\\"}, "héllo\x00 NUL inside".encode())
    assert b"destination:/a\\cb\n" in data and b"note:line\\nbreak\\\\\n" in data
    assert b"content-length:18\n" in data and data.endswith(b"\x00")
    assert parse(data) == [
        Frame(
            "SEND",
            {"destination": "/a:b", "note": "line\nbreak\\", "content-length": "18"},
            "héllo\x00 NUL inside".encode(),
        )
    ]


def test_stomp_1_2_escapes_carriage_returns_and_1_1_does_not():
    assert b"h:a\\rb" in encode("MESSAGE", {"h": "a\rb"}, version="1.2")
    assert parse(b"SEND\nh:a\\rb\n\n\x00")[0].headers["h"] == "a\rb"
    with pytest.raises(FrameError, match="escape"):
        parse(b"SEND\nh:a\\rb\n\n\x00", version="1.1")


def test_connect_headers_are_never_unescaped_and_connected_never_escaped():
    assert parse(b"CONNECT\nlogin:a\\cb\n\n\x00")[0].headers["login"] == "a\\cb"
    assert b"server:x:y\n" in encode("CONNECTED", {"server": "x:y"})


def test_heartbeats_between_frames_and_crlf_lines_are_accepted():
    frames = parse(
        b"\n\r\nSUBSCRIBE\r\nid:1\r\ndestination:/topic/public\r\n\r\n\x00\n\nDISCONNECT\n\n\x00\n"
    )
    assert [f.command for f in frames] == ["SUBSCRIBE", "DISCONNECT"]
    assert frames[0].headers == {"id": "1", "destination": "/topic/public"}
    assert parse(b"\n") == []


def test_the_first_of_repeated_headers_wins():
    assert parse(b"SEND\nfoo:1\nfoo:2\n\n\x00")[0].headers["foo"] == "1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SEND\ndestination:/x\n\nbody", "NUL"),
        (b"SEND\ndestination:/x", "blank line"),
        (b"SEND\nno colon here\n\n\x00", "Malformed header"),
        (b"SEND\n:value\n\n\x00", "Malformed header"),
        (b"HELLO\n\n\x00", "Unknown command"),
        (b"SEND\ncontent-length:-1\n\n\x00", "content-length"),
        (b"SEND\ncontent-length:10\n\nshort\x00", "content-length"),
        (b"SEND\nh:\xff\n\n\x00", "UTF-8"),
        (b"SEND\n" + b"h:v\n" * 65 + b"\n\x00", "Too many headers"),
        (b"SEND\n\n" + b"x" * MAX_FRAME_BYTES + b"\x00", "too large"),
        (b"SEND\ncontent-length:70000\n\n" + b"x" * 70000 + b"\x00", "too large"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(data, message):
    with pytest.raises(FrameError, match=message):
        parse(data)
