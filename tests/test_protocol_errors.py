"""Bad input gets its documented error, writes nothing, and the connection keeps working."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from chat.domain import rooms
from chat.models import Message, Room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

db = database_sync_to_async


async def raw(sock, text: str) -> dict:
    await sock.communicator.send_to(text_data=text)
    return await sock.recv()


async def assert_still_works(sock) -> None:
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}


def send(room="general", **fields):
    return json.dumps({"type": "message.send", "room": room, "body": "hi", "client_msg_id": "c1", **fields})


CASES = [
    ("not json", "{nope", "invalid_json", None),
    ("not an object", "[1, 2]", "invalid_json", None),
    ("no type", '{"room": "general"}', "unknown_type", None),
    ("unknown type", '{"type": "dance"}', "unknown_type", "dance"),
    ("type not a string", '{"type": 7}', "unknown_type", None),
    ("missing room", '{"type": "subscribe"}', "invalid_field", "subscribe"),
    ("room not a string", '{"type": "subscribe", "room": 5}', "invalid_field", "subscribe"),
    ("room with bad characters", '{"type": "subscribe", "room": "../x"}', "invalid_field", "subscribe"),
    (
        "room with a trailing newline",
        '{"type": "subscribe", "room": "general\\n"}',
        "invalid_field",
        "subscribe",
    ),
    ("nested too deep", "[" * 50_000, "invalid_json", None),
    ("object nested too deep", '{"a":' * 12_000, "invalid_json", None),
    ("since negative", '{"type": "subscribe", "room": "general", "since": -1}', "invalid_field", "subscribe"),
    (
        "since not an int",
        '{"type": "subscribe", "room": "general", "since": "3"}',
        "invalid_field",
        "subscribe",
    ),
    ("since a bool", '{"type": "subscribe", "room": "general", "since": true}', "invalid_field", "subscribe"),
    ("unknown room", '{"type": "subscribe", "room": "nowhere"}', "unknown_room", "subscribe"),
    (
        "history limit too big",
        '{"type": "history.fetch", "room": "general", "limit": 101}',
        "invalid_field",
        "history.fetch",
    ),
    ("unsubscribe unknown", '{"type": "unsubscribe", "room": "general"}', "not_subscribed", "unsubscribe"),
    (
        "body missing",
        json.dumps({"type": "message.send", "room": "general", "client_msg_id": "c1"}),
        "invalid_field",
        "c1",
    ),
    ("body not a string", send(body=5), "invalid_field", "c1"),
    (
        "client_msg_id missing",
        json.dumps({"type": "message.send", "room": "general", "body": "x"}),
        "invalid_field",
        "message.send",
    ),
    ("client_msg_id invalid", send(client_msg_id="bad id!"), "invalid_field", "bad id!"),
    ("client_msg_id with a trailing newline", send(client_msg_id="c1\n"), "invalid_field", "c1\n"),
    ("client_msg_id of 64 and a newline", send(client_msg_id="c" * 64 + "\n"), "invalid_field", "c" * 64),
    ("client_msg_id with a lone surrogate", send(client_msg_id="c\ud800"), "invalid_field", "c\\ud800"),
    ("body with a lone surrogate", send(body="\ud800"), "invalid_field", "c1"),
    ("body with a lone low surrogate", send(body="ok \udfff"), "invalid_field", "c1"),
    ("body with NUL", send(body="a\x00b"), "invalid_field", "c1"),
    ("body with an escape sequence", send(body="\x1b[31mred"), "invalid_field", "c1"),
    ("body with a C1 control", send(body="a\x85b"), "invalid_field", "c1"),
    ("body with a carriage return", send(body="a\r\nb"), "invalid_field", "c1"),
    ("empty body", send(body="  "), "empty_body", "c1"),
    ("body too long", send(body="x" * 4001), "body_too_long", "c1"),
    ("send to unknown room", send(room="nowhere"), "unknown_room", "c1"),
]


@pytest.mark.parametrize(("text", "code", "ref"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_frames_get_their_error_and_write_nothing(alice, room, socket_for, text, code, ref):
    sock = await socket_for(alice)
    error = await raw(sock, text)
    assert error["type"] == "error" and error["code"] == code and error["ref"] == ref
    assert isinstance(error["detail"], str) and error["detail"]
    assert await db(Message.objects.count)() == 0
    assert (await db(Room.objects.get)(pk=room.pk)).last_seq == 0
    await assert_still_works(sock)


async def test_binary_frames_are_refused(alice, socket_for):
    sock = await socket_for(alice)
    await sock.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await sock.recv())["code"] == "invalid_frame"
    await assert_still_works(sock)


async def test_a_private_room_answers_a_non_member_exactly_as_a_missing_room(alice, make_user, socket_for):
    """No existence oracle: an outsider cannot tell a private slug from one no room has."""
    await db(rooms.room_create)(creator=alice, title="Secret", is_private=True)
    sock = await socket_for(await db(make_user)("mallory"))
    for kind in ("subscribe", "history.fetch", "message.send", "typing"):
        answers = []
        for slug in ("secret", "nowhere"):
            await sock.send({"type": kind, "room": slug, "body": "hi", "client_msg_id": "m1"})
            error = await sock.recv()
            answers.append((error["code"], error["detail"].replace(slug, "<slug>"), error["ref"]))
        assert answers[0] == answers[1], kind
        assert answers[0][0] in ("unknown_room", "not_subscribed"), answers
    assert await db(Message.objects.count)() == 0
    await assert_still_works(sock)


async def test_archived_room_is_read_only(alice, room, socket_for):
    await db(rooms.room_set_archived)(room_slug=room.slug, actor=None, archived=True, as_admin=True)
    sock = await socket_for(alice)
    await sock.send({"type": "message.send", "room": "general", "body": "hi", "client_msg_id": "a1"})
    error = await sock.recv_type("error")
    assert (error["code"], error["ref"]) == ("read_only", "a1")
    await sock.send({"type": "subscribe", "room": "general"})  # reading is still allowed
    assert (await sock.recv_type("subscribed"))["info"]["archived"] is True


async def test_rate_limit_errors_then_closes_a_flooding_socket(alice, room, socket_for, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 5
    settings.CHAT_RATE_LIMIT_WINDOW = 30  # sliding: every send of this test falls inside one window
    sock = await socket_for(alice)
    codes = []
    for i in range(5 + 21):
        await sock.send({"type": "message.send", "room": "general", "body": "x", "client_msg_id": f"f{i}"})
        frame = await sock.recv()
        codes.append(frame.get("code") or frame["type"])
    assert codes[:5] == ["message.ack"] * 5
    assert codes[5:] == ["rate_limited"] * 21
    assert 0 < frame["retry_after"] <= 30  # the closing error says when to come back too
    assert (await sock.communicator.receive_output(2)) == {"type": "websocket.close", "code": 4429}
    assert await db(Message.objects.count)() == 5


async def test_a_rate_limited_send_says_when_to_retry_and_then_is_stored(alice, room, socket_for, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW = 3
    sock = await socket_for(alice)
    for i in range(2):
        await sock.send({"type": "message.send", "room": "general", "body": "x", "client_msg_id": f"r{i}"})
        assert (await sock.recv_type("message.ack"))["seq"] == i + 1
    frame = {"type": "message.send", "room": "general", "body": "x", "client_msg_id": "r2"}
    await sock.send(frame)
    error = await sock.recv_type("error")
    assert (error["code"], error["ref"]) == ("rate_limited", "r2")
    assert isinstance(error["retry_after"], float) and 0 < error["retry_after"] <= 3
    await asyncio.sleep(error["retry_after"])  # the wait the server named, and no longer
    await sock.send(frame)
    assert (await sock.recv_type("message.ack"))["seq"] == 3


async def test_the_rate_limit_is_shared_by_all_of_a_users_connections(alice, room, socket_for, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 4
    settings.CHAT_RATE_LIMIT_WINDOW = 30  # sliding: every send of this test falls inside one window
    first, second = await socket_for(alice), await socket_for(alice)
    results = []
    for i in range(6):
        sock = first if i % 2 else second
        await sock.send({"type": "message.send", "room": "general", "body": "x", "client_msg_id": f"s{i}"})
        frame = await sock.recv()
        results.append(frame["type"])
    assert results.count("message.ack") == 4 and results.count("error") == 2
