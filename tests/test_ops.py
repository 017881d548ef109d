"""Operations on real processes: health, readiness, metrics, graceful shutdown, JSON logs."""

import json
import os
import signal
import time

import httpx
import pytest
import websockets

from chat.testing.clients import WsClient
from chat.testing.cluster import start_cluster

pytestmark = [pytest.mark.cluster]

TOKEN = "metrics-test-token"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(
        tmp_path_factory.mktemp("ops"),
        METRICS_TOKEN=TOKEN,
        METRICS_ALLOWED_NETWORKS="",
        LOG_FORMAT="json",
        CHAT_SHUTDOWN_GRACE="5",
    )
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def test_healthz_and_readyz_answer_and_readyz_fails_fast_while_redis_hangs(cluster):
    http = httpx.Client(base_url=cluster.nodes[0].http_url, timeout=10)
    assert http.get("/healthz").text == "ok\n"
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "database": "ok", "redis": "ok"}
    os.kill(cluster.redis.process.pid, signal.SIGSTOP)  # Redis hangs: accepts, never answers
    try:
        started = time.monotonic()
        hung = http.get("/readyz")
        took = time.monotonic() - started
        assert (
            hung.status_code == 503 and hung.json()["redis"] == "timeout" and hung.json()["database"] == "ok"
        )
        assert took < 3
        assert http.get("/healthz").status_code == 200
    finally:
        os.kill(cluster.redis.process.pid, signal.SIGCONT)
    assert http.get("/readyz").status_code == 200


async def test_metrics_need_the_token_and_count_connections_and_messages(cluster):
    [room] = cluster.make_rooms(["Metrics"])
    [(_, key)] = cluster.make_sessions(1, "metrics")
    client = await WsClient.connect(cluster.nodes[0].port, key)
    await client.subscribe(room)
    await client.send_message(room, "counted", "m1")
    await client.send({"type": "dance"})
    await client.recv_type("error")
    http = httpx.Client(base_url=cluster.nodes[0].http_url)
    assert http.get("/metrics").status_code == 403
    assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    text = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'chat_connections{transport="websocket"} 1.0' in text
    assert "chat_subscriptions 1.0" in text
    assert "chat_messages_received_total 1.0" in text
    assert 'chat_errors_total{code="unknown_type"} 1.0' in text
    assert "chat_delivery_latency_seconds_count 1.0" in text
    await client.close()


def test_logs_are_json_lines_with_the_node_name(cluster):
    lines = [line for line in cluster.nodes[0].log_path.read_text().splitlines() if line.startswith("{")]
    assert lines, "no JSON log line"
    record = json.loads(lines[0])
    assert record["node"] == "node1" and {"time", "level", "logger", "message"} <= set(record)


async def test_sigterm_closes_sockets_with_1012_cleans_up_and_exits(cluster):
    [room] = cluster.make_rooms(["Shutdown"])
    (name_a, key_a), (name_b, key_b) = cluster.make_sessions(2, "term")
    a = await WsClient.connect(cluster.nodes[0].port, key_a)
    b = await WsClient.connect(cluster.nodes[1].port, key_b)
    await a.subscribe(room)
    await b.subscribe(room)
    while sorted((await a.recv_type("presence"))["users"]) != sorted([name_a, name_b]):
        pass
    node = cluster.nodes[1]
    started = time.monotonic()
    node.process.send_signal(signal.SIGTERM)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await b.recv(timeout=5)
    assert closed.value.rcvd.code == 1012
    assert node.process.wait(10) == 0
    exited = time.monotonic() - started
    # The consumer's disconnect ran: B left presence at once, not after the 25 s TTL.
    left = await a.recv_type("presence", timeout=5)
    assert left["left"] == [name_b]
    print(f"SIGTERM to exit: {exited:.2f} s")
    assert exited < 5 + 2
    node.process = None
    node.start()  # for the module's other tests and teardown
    await a.close()
