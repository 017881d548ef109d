"""STOMP on real processes: the npm clients of the Spring chat tutorials against two daphne nodes."""

import asyncio
import json
import signal
import uuid

import pytest
import websockets

from chat.testing.cluster import connect, new_user, start_cluster
from tests.stomp_driver import NodeStompClient, ensure_npm_packages

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ensure_npm_packages()
    cluster = start_cluster(tmp_path_factory.mktemp("stomp-cluster"), CHAT_SOCKJS_HEARTBEAT="2")
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def stomp_url(cluster, node: int, transport: str) -> str:
    if transport == "websocket":
        return f"ws://127.0.0.1:{cluster.nodes[node].port}/stomp"
    return f"{cluster.nodes[node].http_url}/stomp"


async def stomp_client(cluster, node: int, username: str, *, lib="stompjs7", transport="websocket", **extra):
    client = await NodeStompClient.start(
        lib=lib,
        transport=transport,
        url=stomp_url(cluster, node, transport),
        login=username,
        passcode=PASSWORD,
        **extra,
    )
    await client.next("connected")
    return client


async def test_a_stomp_client_on_node_1_and_a_ws_client_on_node_2_chat_both_ways(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=1)
    room = http_a.create_room("Stomp both ways")
    a = await stomp_client(cluster, 0, name_a)
    b = await connect(cluster, http_b, 1)
    await b.subscribe(room)
    await a.subscribe("s1", f"/topic/chat/room/{room}", receipt="r-sub")
    await a.next("receipt", id="r-sub")
    await a.send("/app/chat/message", {"roomId": room, "message": "from stomp", "type": "TALK"}, receipt="r1")
    await a.next("receipt", id="r1")
    got = await b.recv_type("message")
    assert (got["author"], got["body"]) == (name_a, "from stomp")
    mine = await a.message("s1", message="from stomp")
    assert mine["sender"] == name_a and mine["roomId"] == room and mine["seq"] == got["seq"]
    await b.send_message(room, "from ws", "b1")
    theirs = await a.message("s1", message="from ws")
    assert (theirs["sender"], theirs["type"]) == (name_b, "TALK")
    headers = theirs["_headers"]
    assert headers["destination"] == f"/topic/chat/room/{room}" and headers["subscription"] == "s1"
    assert headers["content-type"] == "application/json" and headers["seq"] == str(theirs["seq"])
    await a.close()
    await b.close()


LAYOUTS = {
    # subscribe to, send to, body fields (text, type), the post type, the join type
    "topic-app": ("/topic/chat/room/{room}", "/app/chat/message", "message", "TALK", "ENTER"),
    "sub-pub": ("/sub/chat/room/{room}", "/pub/chat/message", "message", "TALK", "ENTER"),
    "public": ("/topic/public", "/app/chat.sendMessage", "content", "CHAT", "JOIN"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("transport", ["websocket", "xhr-streaming"])
@pytest.mark.parametrize("lib", ["stompjs7", "stompjs2"])
async def test_tutorial_clients_chat_across_nodes_in_every_layout(cluster, lib, transport, layout):
    subscribe_to, send_to, text_field, post, join = LAYOUTS[layout]
    name_a, http_a = new_user(cluster, node=0)
    name_b, _ = new_user(cluster, node=1)
    room = http_a.create_room(f"Layout {lib} {transport} {layout}")
    destination = subscribe_to.format(room=room)
    a = await stomp_client(cluster, 0, name_a, lib=lib, transport=transport)
    b = await stomp_client(cluster, 1, name_b, lib=lib, transport=transport)
    await b.subscribe("b-sub", destination, receipt="b-subscribed")
    await b.next("receipt", id="b-subscribed")
    await a.subscribe("a-sub", destination)
    # b sees a come online (ENTER/JOIN: presence, nothing stored).
    assert (await b.message("b-sub", type=join, sender=name_a))["sender"] == name_a
    text = f"hello from {lib} over {transport} ({uuid.uuid4().hex[:6]})"
    body = {text_field: text, "type": post, "sender": "someone-else"}
    if layout != "public":
        body["roomId"] = room
    await a.send(send_to, body)
    got = await b.message("b-sub", **{text_field: text})
    assert got["sender"] == name_a  # the authenticated user, not the body's `sender`
    assert got["type"] == post and isinstance(got["seq"], int) and got["createdAt"]
    assert got["_headers"]["destination"] == destination
    await b.send(send_to, {**body, text_field: "and back", "sender": name_a})
    back = await a.message("a-sub", **{text_field: "and back"})
    assert back["sender"] == name_b and back["seq"] > got["seq"]
    await a.close()
    await b.close()


async def test_a_cookie_session_connects_with_its_origin_and_not_without(cluster):
    name, http = new_user(cluster, node=0)
    port = cluster.nodes[0].port
    cookie = f"sessionid={http.session_cookie}"
    url = f"ws://127.0.0.1:{port}/stomp/websocket"
    good = await NodeStompClient.start(
        lib="stompjs7",
        transport="websocket",
        url=url,
        headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
    )
    assert (await good.next("connected"))["headers"]["user-name"] == name
    await good.close()
    # Without Origin the cookie is not used (another site's page could have sent it).
    no_origin = await NodeStompClient.start(
        lib="stompjs7", transport="websocket", url=url, headers={"Cookie": cookie}
    )
    error = await no_origin.next("error")
    assert error["headers"]["message"] == "unauthenticated"
    await no_origin.close()
    foreign = await NodeStompClient.start(
        lib="stompjs7",
        transport="websocket",
        url=url,
        headers={"Cookie": cookie, "Origin": "http://evil.example"},
    )
    await foreign.next("closed")
    assert not any(event["event"] == "connected" for event in foreign.events)
    await foreign.close()


async def test_bad_credentials_get_an_error_then_the_connection_closes(cluster):
    name, _ = new_user(cluster, node=0)
    client = await NodeStompClient.start(
        lib="stompjs7",
        transport="websocket",
        url=stomp_url(cluster, 0, "websocket"),
        login=name,
        passcode="wrong",
    )
    error = await client.next("error")
    assert error["headers"]["message"] == "bad_credentials"
    await client.next("closed")
    await client.close()


async def test_a_private_room_refuses_a_non_member(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, _ = new_user(cluster, node=1)
    room = http_a.create_room("Stomp secret", private=True)
    b = await stomp_client(cluster, 1, name_b)
    await b.subscribe("s", f"/topic/chat/room/{room}")
    error = await b.next("error")
    assert error["headers"]["message"] == "unknown_room"
    await b.next("closed")
    await b.close()
    c = await stomp_client(cluster, 1, name_b)
    await c.send("/app/chat/message", {"roomId": room, "message": "let me in"}, receipt="x1")
    error = await c.next("error")
    assert error["headers"]["message"] == "unknown_room" and error["headers"]["receipt-id"] == "x1"
    await c.close()


async def test_notifications_reach_every_node(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, _ = new_user(cluster, node=1)
    room = http_a.create_room("Stomp mentions")
    b = await stomp_client(cluster, 1, name_b)
    await b.subscribe("n", "/user/queue/notifications", receipt="rn")
    await b.next("receipt", id="rn")
    a = await stomp_client(cluster, 0, name_a)
    await a.send("/app/chat/message", {"roomId": room, "message": f"hi @{name_b}"}, receipt="m1")
    await a.next("receipt", id="m1")
    note = await b.message("n")
    assert (note["kind"], note["room"], note["from"], note["body"]) == (
        "mention",
        room,
        name_a,
        f"hi @{name_b}",
    )
    await a.close()
    await b.close()


async def test_a_retried_send_stores_one_message(cluster):
    name_a, http_a = new_user(cluster, node=0)
    room = http_a.create_room("Stomp retries")
    a = await stomp_client(cluster, 0, name_a)
    await a.subscribe("s", f"/topic/chat/room/{room}", receipt="rs")
    await a.next("receipt", id="rs")
    for attempt in ("t1", "t2"):
        await a.send(
            "/app/chat/message",
            {"roomId": room, "message": "once"},
            receipt=attempt,
            **{"client-msg-id": "c-1"},
        )
        await a.next("receipt", id=attempt)
    await a.send("/app/chat/message", {"roomId": room, "message": "after"}, receipt="t3")
    await a.next("receipt", id="t3")
    first = await a.message("s", type="TALK")
    second = await a.message("s", type="TALK")
    assert (first["message"], second["message"]) == ("once", "after")
    assert second["seq"] == first["seq"] + 1
    await a.close()


async def raw_stomp(cluster, node: int, username: str):
    """A bare WebSocket speaking STOMP by hand, signed in with CONNECT."""
    connection = await websockets.connect(
        f"ws://127.0.0.1:{cluster.nodes[node].port}/stomp", subprotocols=["v12.stomp"], open_timeout=10
    )
    assert connection.subprotocol == "v12.stomp"
    await connection.send(
        f"CONNECT\naccept-version:1.2\nhost:chat\nlogin:{username}\npasscode:{PASSWORD}\n\n\x00"
    )
    assert (await asyncio.wait_for(connection.recv(), 10)).startswith("CONNECTED\nversion:1.2\n")
    return connection


async def error_then_close(connection) -> str:
    """The ERROR frame's message header; the server then closes the connection."""
    frame = await asyncio.wait_for(connection.recv(), 10)
    assert frame.startswith("ERROR\n") and frame.endswith("\x00")
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(connection.recv(), 10)
    headers = dict(line.split(":", 1) for line in frame.split("\n\n", 1)[0].split("\n")[1:])
    return headers["message"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("SEND\ndestination:/app/chat/message\n\n{}", "invalid_frame"),  # no NUL
        ("SUBSCRIBE\nid 1\ndestination:/topic/public\n\n\x00", "invalid_frame"),  # a header without colon
        ("SUBSCRIBE\nid:1\ndestination:/topic/\\x\n\n\x00", "invalid_frame"),  # an undefined escape
        ("FLY\n\n\x00", "invalid_frame"),  # unknown command
        ("SEND\ndestination:/app/chat/message\n\n" + "x" * 70_000 + "\x00", "frame_too_large"),
        ("SEND\ndestination:/app/chat/message\ncontent-length:99\n\nshort\x00", "invalid_frame"),
        ("SEND\ndestination:/app/chat/message\n\nnot json\x00", "invalid_json"),
        ("SEND\ndestination:/queue/elsewhere\n\n{}\x00", "unknown_destination"),
        ("SUBSCRIBE\nid:1\ndestination:/topic/nowhere\n\n\x00", "unknown_destination"),
        ("SUBSCRIBE\nid:1\ndestination:/topic/chat/room/no-such-room\n\n\x00", "unknown_room"),
        ('SEND\ndestination:/app/chat/message\n\n{"roomId": "x", "message": 5}\x00', "invalid_field"),
        ("BEGIN\ntransaction:t1\n\n\x00", "unsupported"),
    ],
)
async def test_bad_frames_get_an_error_and_no_traceback(cluster, frame, message):
    name, _ = new_user(cluster, node=0)
    connection = await raw_stomp(cluster, 0, name)
    await connection.send(frame)
    assert await error_then_close(connection) == message
    cluster.assert_no_tracebacks()


async def test_a_frame_before_connect_is_refused(cluster):
    connection = await websockets.connect(f"ws://127.0.0.1:{cluster.nodes[1].port}/stomp/websocket")
    await connection.send("SUBSCRIBE\nid:1\ndestination:/topic/public\n\n\x00")
    assert await error_then_close(connection) == "not_connected"


async def test_escaped_headers_and_heartbeats_are_understood(cluster):
    name, http = new_user(cluster, node=0)
    room = http.create_room("Escapes")
    connection = await raw_stomp(cluster, 0, name)
    await connection.send("\n")  # a heart-beat
    await connection.send(f"SUBSCRIBE\nid:a\\cb\ndestination:/topic/chat/room/{room}\nreceipt:r\\n1\n\n\x00")
    assert await asyncio.wait_for(connection.recv(), 10) == "RECEIPT\nreceipt-id:r\\n1\n\n\x00"
    body = json.dumps({"roomId": room, "message": "ünïcode: \\c"}).encode()
    await connection.send(
        b"SEND\ndestination:/app/chat/message\ncontent-length:%d\n\n%s\x00" % (len(body), body)
    )
    frame = await asyncio.wait_for(connection.recv(), 10)
    while "ENTER" in frame:
        frame = await asyncio.wait_for(connection.recv(), 10)
    head, _, rest = frame.partition("\n\n")
    assert head.startswith("MESSAGE\n") and "\nsubscription:a\\cb\n" in head + "\n"
    length = int(dict(line.split(":", 1) for line in head.split("\n")[1:])["content-length"])
    assert json.loads(rest.encode()[:length])["message"] == "ünïcode: \\c"
    await connection.close()


async def test_catch_up_with_since_after_a_node_is_killed(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=0)
    room = http_a.create_room("Stomp catch-up")
    a = await stomp_client(cluster, 1, name_a)
    await a.subscribe("s", f"/topic/chat/room/{room}")
    b = await connect(cluster, http_b, 0)
    await b.subscribe(room)
    await b.send_message(room, "before", "cu-0")
    last_seq = (await a.message("s", message="before"))["seq"]
    cluster.nodes[1].stop(signal.SIGKILL)
    await a.next("closed")
    await a.close()
    for i in range(1, 4):
        await b.send_message(room, f"missed {i}", f"cu-{i}")
    cluster.nodes[1].start()
    a = await stomp_client(cluster, 1, name_a)
    await a.subscribe("s", f"/topic/chat/room/{room}", since=str(last_seq))
    got = [await a.message("s", type="TALK") for _ in range(3)]
    assert [m["message"] for m in got] == ["missed 1", "missed 2", "missed 3"]
    assert [m["seq"] for m in got] == [last_seq + 1, last_seq + 2, last_seq + 3]
    await b.send_message(room, "live again", "cu-4")
    assert (await a.message("s", type="TALK"))["message"] == "live again"
    await a.close()
    await b.close()


async def test_connect_logins_are_throttled_like_the_web_login(cluster):
    name, _ = new_user(cluster, node=0)
    url = stomp_url(cluster, 1, "websocket")
    for attempt in range(5):  # LOGIN_FAILURE_LIMIT for one username from one address
        client = await NodeStompClient.start(
            lib="stompjs7", transport="websocket", url=url, login=name, passcode=f"guess-{attempt}"
        )
        assert (await client.next("error"))["headers"]["message"] == "bad_credentials"
        await client.close()
    # Locked out now: the right password is refused too, on any node (the failures are in the database).
    client = await NodeStompClient.start(
        lib="stompjs2",
        transport="xhr-streaming",
        url=stomp_url(cluster, 0, "sockjs"),
        login=name,
        passcode=PASSWORD,
    )
    assert (await client.next("error"))["headers"]["message"] == "bad_credentials"
    await client.close()


# --- API tokens: Authorization: Bearer ----------------------------------------------------------


def bearer(secret: str) -> dict:
    return {"connectHeaders": {"Authorization": f"Bearer {secret}"}}


async def token_client(cluster, node: int, secret: str, *, lib="stompjs7", transport="websocket"):
    client = await NodeStompClient.start(
        lib=lib, transport=transport, url=stomp_url(cluster, node, transport), **bearer(secret)
    )
    await client.next("connected")
    return client


async def test_an_api_token_connects_on_both_nodes_over_websocket_and_sockjs(cluster):
    name, http = new_user(cluster, node=0)
    room = http.create_room("Token chat")
    token_id, secret = http.create_api_token("tutorial page")
    a = await token_client(cluster, 0, secret)
    b = await token_client(cluster, 1, secret, lib="stompjs2", transport="xhr-streaming")
    c = await token_client(cluster, 1, secret, transport="sockjs-websocket")
    for client in (a, b, c):
        assert client.events[0]["headers"]["user-name"] == name
    destination = f"/topic/chat/room/{room}"
    for client in (b, c):
        await client.subscribe("s", destination, receipt="subscribed")
        await client.next("receipt", id="subscribed")
    await a.send("/app/chat/message", {"roomId": room, "message": "by token", "type": "TALK"}, receipt="r")
    await a.next("receipt", id="r")
    for client in (b, c):
        assert (await client.message("s", message="by token"))["sender"] == name
        await client.close()
    await a.close()
    # Only a digest is stored: the secret is in no column, nor anywhere in the database's files.
    [(prefix, digest, last_used)] = cluster.sql(
        "SELECT prefix, secret_hash, last_used_at FROM chat_apitoken WHERE id = ?", token_id
    )
    assert secret.startswith(f"chat_{prefix}_") and secret not in digest and last_used
    stored = b"".join(path.read_bytes() for path in cluster.workdir.glob("chat.sqlite3*"))
    assert secret.encode() not in stored and secret.split("_", 2)[2].encode() not in stored


async def test_a_revoked_token_is_refused_and_its_connection_closes_on_the_other_node(cluster):
    name, http = new_user(cluster, node=0)
    room = http.create_room("Token revoked")
    revoked_id, revoked = http.create_api_token("old")
    _, kept = http.create_api_token("kept")
    doomed = await token_client(cluster, 1, revoked, lib="stompjs2", transport="xhr-streaming")
    other = await token_client(cluster, 1, kept)
    on_ws = await connect(cluster, http, 1)
    await other.subscribe("s", f"/topic/chat/room/{room}", receipt="subscribed")
    await other.next("receipt", id="subscribed")
    http.revoke_api_token(revoked_id)  # on node 0
    error = await doomed.next("error")
    assert error["headers"]["message"] == "not_signed_in"
    await doomed.next("closed")
    await doomed.close()
    # The user's other connections stay: another token's, and the /ws/ socket of the session.
    await on_ws.subscribe(room)
    await on_ws.send_message(room, "still here", "kept-1")
    assert (await other.message("s", message="still here"))["sender"] == name
    again = await NodeStompClient.start(
        lib="stompjs7", transport="websocket", url=stomp_url(cluster, 0, "websocket"), **bearer(revoked)
    )
    assert (await again.next("error"))["headers"]["message"] == "bad_credentials"
    await again.next("closed")
    assert not any(event["event"] == "connected" for event in again.events)
    await again.close()
    await other.close()
    await on_ws.close()


async def raw_connect(cluster, node: int, headers: str):
    connection = await websockets.connect(
        f"ws://127.0.0.1:{cluster.nodes[node].port}/stomp", subprotocols=["v12.stomp"], open_timeout=10
    )
    await connection.send(f"CONNECT\naccept-version:1.2\nhost:chat\n{headers}\n\x00")
    return connection


async def test_bad_tokens_get_an_error_then_the_connection_closes(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=1)
    _, secret_a = http_a.create_api_token("a")
    _, secret_b = http_b.create_api_token("b")
    prefix_a, tail_b = secret_a.split("_")[1], secret_b.split("_", 2)[2]
    for headers in (
        "Authorization:Bearer garbage\n",
        f"Authorization:Bearer {secret_a.removeprefix('chat_')}\n",  # no chat_ prefix
        f"Authorization:Bearer chat_{prefix_a}_{tail_b}\n",  # a's id, b's secret
        f"Authorization:Basic {secret_a}\n",
        f"Authorization:{secret_a}\n",
        f"login:{name_a}\nAuthorization:Bearer {secret_b}\n",  # b's token for a
    ):
        connection = await raw_connect(cluster, 1, headers)
        assert await error_then_close(connection) == "bad_credentials", headers
    ok = await raw_connect(cluster, 1, f"login:{name_b}\nAuthorization:Bearer {secret_b}\n")
    assert (await asyncio.wait_for(ok.recv(), 10)).startswith("CONNECTED\n")
    await ok.close()
