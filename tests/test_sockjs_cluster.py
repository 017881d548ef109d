"""The chat over SockJS on real processes: one Redis, two daphne nodes, no sticky sessions."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets

from chat.testing.clients import CSRF_RE, WsClient
from chat.testing.cluster import connect, new_user, start_cluster
from tests.sockjs_client import SockJSClient
from tests.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


# A short heartbeat: the owner of a session notices a dead relaying node at its heartbeat.
HEARTBEAT = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(tmp_path_factory.mktemp("sockjs-cluster"), CHAT_SOCKJS_HEARTBEAT=str(HEARTBEAT))
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def urls(cluster) -> list[str]:
    return [node.http_url for node in cluster.nodes]


async def test_an_xhr_streaming_user_on_node_1_and_a_websocket_user_on_node_2_chat_both_ways(cluster):
    name_a, http_a = new_user(cluster, node=0)
    name_b, http_b = new_user(cluster, node=1)
    room = http_a.create_room("Fallback")
    a = await SockJSClient(urls(cluster)[:1], http_a.session_cookie, transport="xhr_streaming").open()
    b = await connect(cluster, http_b, 1)
    assert a.opened.is_set()
    await a.subscribe(room)
    await b.subscribe(room)
    ack = await a.send_message(room, "from xhr-streaming", "a1")
    got = await b.recv_type("message")
    assert (got["author"], got["body"], got["seq"]) == (name_a, "from xhr-streaming", ack["seq"])
    await b.send_message(room, "from websocket", "b1")
    got = await a.recv_type("message")
    while got["author"] == name_a:  # its own message comes back too
        got = await a.recv_type("message")
    assert (got["author"], got["body"]) == (name_b, "from websocket")
    await a.close()
    await b.close()


@pytest.mark.parametrize("transport", ["xhr", "xhr_streaming", "eventsource"])
async def test_a_client_whose_requests_alternate_between_nodes_loses_nothing(cluster, transport):
    name_a, http_a = new_user(cluster, node=0)
    _, http_b = new_user(cluster, node=1)
    room = http_a.create_room(f"Alternating {transport}")
    a = await SockJSClient(urls(cluster), http_a.session_cookie, transport=transport, alternate=True).open()
    b = await connect(cluster, http_b, 1)
    await a.subscribe(room)
    await b.subscribe(room)

    async def b_sends() -> None:
        for i in range(30):
            await b.send_message(room, f"b{i}", f"b{i}-{transport}")

    async def a_sends() -> None:
        for i in range(10):
            assert (
                await a.send(
                    {"type": "message.send", "room": room, "body": f"a{i}", "client_msg_id": f"a{i}"}
                )
                == 204
            )

    await asyncio.gather(b_sends(), a_sends())
    seqs, acks = [], set()
    while len(seqs) < 40 or len(acks) < 10:
        frame = await a.recv(timeout=10)
        if frame["type"] == "message":
            seqs.append(frame["seq"])
        elif frame["type"] == "message.ack":
            acks.add(frame["client_msg_id"])
        else:
            assert frame["type"] != "error", frame
    assert seqs == list(range(1, 41)), "every message once, in order"
    assert acks == {f"a{i}" for i in range(10)}
    assert all(count > 1 for count in a.requests_per_node.values()) and len(a.requests_per_node) == 2
    await a.close()
    await b.close()


async def test_the_framed_sockjs_websocket_carries_the_chat(cluster):
    _, http_a = new_user(cluster, node=0)
    room = http_a.create_room("Framed")
    port = cluster.nodes[1].port
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/sockjs/000/{uuid.uuid4().hex}/websocket",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={http_a.session_cookie}"},
    ) as ws:
        assert await ws.recv() == "o"
        await ws.send(json.dumps([json.dumps({"type": "subscribe", "room": room})]))
        frame = await asyncio.wait_for(ws.recv(), 5)
        assert frame.startswith("a[")
        assert json.loads(json.loads(frame[1:])[0])["type"] == "subscribed"


async def test_a_session_is_its_users_alone(cluster):
    _, http_a = new_user(cluster, node=0)
    _, http_b = new_user(cluster, node=0)
    a = await SockJSClient(urls(cluster)[:1], http_a.session_cookie, transport="xhr_streaming").open()
    # Bob learns Alice's session id: on either node, he can neither send into it nor read from it.
    for base in urls(cluster):
        session_url = f"{base}/sockjs/000/{a.session_id}"
        headers = {"Origin": base, "Cookie": f"sessionid={http_b.session_cookie}"}
        async with httpx.AsyncClient() as bob:
            sent = await bob.post(f"{session_url}/xhr_send", content='["{}"]', headers=headers)
            polled = await bob.post(f"{session_url}/xhr", headers=headers)
        assert (sent.status_code, polled.status_code) == (404, 404)
    await a.close()


async def test_anonymous_and_cross_site_requests_are_refused(cluster):
    base = urls(cluster)[0]
    session = f"{base}/sockjs/000/{uuid.uuid4().hex}"
    async with httpx.AsyncClient() as client:
        anonymous = await client.post(f"{session}/xhr", headers={"Origin": base})
        assert anonymous.status_code == 200 and anonymous.text == 'c[4401,"Not signed in"]\n'
        foreign = await client.post(f"{session}/xhr", headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        assert "Access-Control-Allow-Origin" not in foreign.headers
        no_origin = await client.post(f"{session}/xhr_send", content='["x"]')
        assert no_origin.status_code == 403  # a POST must say where it comes from (CSRF)
        info = await client.get(f"{base}/sockjs/info", headers={"Origin": "http://evil.example"})
        assert info.status_code == 403
        info = await client.get(f"{base}/sockjs/info")
        assert info.json()["websocket"] is True and info.json()["cookie_needed"] is False
        assert info.headers["X-Content-Type-Options"] == "nosniff"
        # The conformance suite's services are mounted only with SOCKJS_CONFORMANCE=1.
        assert (await client.get(f"{base}/sockjs-conformance/echo/info")).status_code == 404


async def test_oversized_and_broken_sends_get_their_documented_errors(cluster):
    _, http_a = new_user(cluster, node=0)
    a = await SockJSClient(urls(cluster)[:1], http_a.session_cookie, transport="xhr_streaming").open()
    base = urls(cluster)[0]
    url = f"{base}/sockjs/000/{a.session_id}/xhr_send"
    headers = {"Origin": base}
    too_big = json.dumps(["x" * (64 * 1024)])
    assert (await a.http.post(url, content=too_big, headers=headers)).status_code == 413
    broken = await a.http.post(url, content='["x', headers=headers)
    assert (broken.status_code, broken.text) == (500, "Broken JSON encoding.")
    # A chat frame that is not JSON is the chat protocol's own error, as on /ws/.
    assert (await a.http.post(url, content='["not json"]', headers=headers)).status_code == 204
    assert (await a.recv_type("error"))["code"] == "invalid_json"
    await a.close()


async def test_logout_closes_the_sockjs_session_with_4401(cluster):
    _, http_a = new_user(cluster, node=0)
    a = await SockJSClient(urls(cluster)[1:], http_a.session_cookie, transport="xhr_streaming").open()
    token = CSRF_RE.search(http_a.client.get("/").text).group(1)
    assert http_a.client.post("/accounts/logout/", data={"csrfmiddlewaretoken": token}).status_code == 302
    code = await asyncio.wait_for(a.closed, 10)
    assert code[0] == 4401
    await a.close()


async def test_a_websocket_client_and_an_eventsource_client_in_one_room(cluster):
    _, http_a = new_user(cluster, node=1)
    name_b, http_b = new_user(cluster, node=0)
    room = http_a.create_room("Eventsource")
    a = await SockJSClient(urls(cluster)[1:], http_a.session_cookie, transport="eventsource").open()
    b: WsClient = await connect(cluster, http_b, 0)
    await a.subscribe(room)
    await b.subscribe(room)
    await b.send_message(room, "to eventsource", "e1")
    got = await a.recv_type("message")
    assert (got["author"], got["body"]) == (name_b, "to eventsource")
    await a.close()
    await b.close()


async def test_a_stream_relayed_by_a_node_that_dies_is_let_go(cluster):
    _, http_a = new_user(cluster, node=0)
    owner, relay = cluster.nodes
    url = f"/sockjs/000/{uuid.uuid4().hex}"
    cookies = {"sessionid": http_a.session_cookie}
    async with httpx.AsyncClient(cookies=cookies, timeout=10) as client:
        opened = await client.post(f"{owner.http_url}{url}/xhr", headers={"Origin": owner.http_url})
        assert opened.text == "o\n"  # the session lives on the owner

        attached = asyncio.Event()

        async def hold_stream_on_relay() -> None:
            async with client.stream(
                "POST", f"{relay.http_url}{url}/xhr_streaming", headers={"Origin": relay.http_url}
            ) as response:
                async for _ in response.aiter_raw():
                    attached.set()  # the prelude is written once the owner attached the stream

        held = asyncio.create_task(hold_stream_on_relay())
        await wait_until(attached.is_set, "the owner attached the stream held by the other node")
        busy = await client.post(f"{owner.http_url}{url}/xhr", headers={"Origin": owner.http_url})
        assert busy.text == 'c[2010,"Another connection still open"]\n'
        relay.process.kill()  # SIGKILL: nobody tells the owner that the stream is gone
        relay.process.wait()
        relay.process = None

        async def owner_let_go() -> str | None:
            # A refused request changes nothing, so asking again until the answer changes is safe.
            after = await client.post(f"{owner.http_url}{url}/xhr", headers={"Origin": owner.http_url})
            return None if after.text == busy.text else after.text

        # The owner notices at a heartbeat; the timeout is ten of them, for a loaded machine.
        after = await wait_until(owner_let_go, "the owner let go of the dead stream", timeout=10 * HEARTBEAT)
        assert after == 'c[1002,"Connection interrupted"]\n'
        held.cancel()
    relay.start()


async def test_a_node_shutting_down_closes_its_sockjs_sessions_with_1012(cluster):
    _, http_a = new_user(cluster, node=0)
    node = cluster.nodes[1]
    a = await SockJSClient([node.http_url], http_a.session_cookie, transport="xhr_streaming").open()
    node.stop()  # SIGTERM
    assert await asyncio.wait_for(a.closed, 10) == (1012, "Node restarting")
    await a.close()
    node.start()


async def test_without_redis_sockjs_requests_get_503_not_a_traceback(cluster):
    _, http_a = new_user(cluster, node=0)
    base = urls(cluster)[0]
    url = f"{base}/sockjs/000/{uuid.uuid4().hex}"
    cluster.redis.stop()
    try:
        async with httpx.AsyncClient(cookies={"sessionid": http_a.session_cookie}, timeout=10) as client:
            opened = await client.post(f"{url}/xhr", headers={"Origin": base})
            sent = await client.post(f"{url}/xhr_send", content='["{}"]', headers={"Origin": base})
        assert (opened.status_code, sent.status_code) == (503, 503)
    finally:
        cluster.redis.start()
