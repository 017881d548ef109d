"""STOMP on real processes: the npm clients of the Spring chat tutorials against two daphne nodes."""

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
