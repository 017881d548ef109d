"""REDIS_URL=redis+sentinel://...: nodes find the master through a real Valkey Sentinel."""

import subprocess

import pytest

from chat.devcluster import free_port, redis_server_binary, start_redis, wait_for_port
from chat.testing.clients import WsClient
from chat.testing.cluster import start_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture
def sentinel_cluster(tmp_path):
    master = start_redis(data_dir=tmp_path / "master")
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f"dir {tmp_path}",
                f"sentinel monitor mymaster 127.0.0.1 {master.port} 1",
                f"sentinel auth-user mymaster {master.user}",
                f"sentinel auth-pass mymaster {master.password}",
                "sentinel down-after-milliseconds mymaster 2000",
            ]
        )
        + "\n"
    )
    sentinel = subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"], cwd=tmp_path)
    cluster = None
    try:
        wait_for_port(port, process=sentinel)
        url = f"redis+sentinel://{master.user}:{master.password}@127.0.0.1:{port}/mymaster/0"
        cluster = start_cluster(tmp_path / "c", redis=master, redis_url=url)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        master.stop()
        sentinel.terminate()
        sentinel.wait(10)
    cluster.assert_no_tracebacks()


async def test_nodes_chat_through_a_master_found_by_sentinel(sentinel_cluster):
    cluster = sentinel_cluster
    [room] = cluster.make_rooms(["Sentinel"])
    (_, key_a), (_, key_b) = cluster.make_sessions(2, "sentinel")
    a = await WsClient.connect(cluster.nodes[0].port, key_a)
    b = await WsClient.connect(cluster.nodes[1].port, key_b)
    await b.subscribe(room)
    await a.send_message(room, "via sentinel", "s1")
    assert (await b.recv_type("message"))["body"] == "via sentinel"
    await a.send({"type": "subscribe", "room": room})
    assert (await a.recv_type("presence"))["users"]  # presence (Redis commands) works too
    await a.close()
    await b.close()
