"""STOMP on real processes: the npm clients of the Spring chat tutorials against two daphne nodes."""

import uuid

import pytest

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
    assert error["headers"]["message"] == "forbidden"
    await b.next("closed")
    await b.close()
    c = await stomp_client(cluster, 1, name_b)
    await c.send("/app/chat/message", {"roomId": room, "message": "let me in"}, receipt="x1")
    error = await c.next("error")
    assert error["headers"]["message"] == "forbidden" and error["headers"]["receipt-id"] == "x1"
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
