"""deploy/nginx.conf, run by Debian's nginx in front of two real nodes, with a node stopped behind it."""

import asyncio
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from chat.devcluster import BASE_DIR, free_port, wait_for_port
from chat.testing.clients import HttpUser, ResilientClient
from chat.testing.cluster import start_cluster
from tests.sockjs_client import SockJSClient
from tests.waiting import wait_until

pytestmark = [pytest.mark.cluster]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(workdir: Path, listen: int, node_ports: list[int]) -> Path:
    """The repo's site file with this run's ports, inside a minimal main config."""
    site = (BASE_DIR / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in node_ports)
    site = re.sub(r"(    server 127\.0\.0\.1:\d+ .*# chat-node\n)+", servers, site)
    site = site.replace("listen 80;  # chat-listen", f"listen 127.0.0.1:{listen};")
    (workdir / "site.conf").write_text(site)
    main = workdir / "nginx.conf"
    # Started as root, nginx runs its workers as nobody, who cannot write request bodies into this
    # test's directory (root's, mode 0700): as root, the workers stay root.
    user = "user root;" if os.geteuid() == 0 else ""
    main.write_text(
        f"""
        {user}
        daemon off;
        pid {workdir}/nginx.pid;
        error_log {workdir}/error.log warn;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            client_body_temp_path {workdir}/body;
            proxy_temp_path {workdir}/proxy;
            include {workdir}/site.conf;
        }}
        """
    )
    return main


@pytest.fixture
def balanced(tmp_path):
    cluster = start_cluster(tmp_path / "c", CHAT_SHUTDOWN_GRACE="3")
    port = free_port()
    config = nginx_config(tmp_path, port, [node.port for node in cluster.nodes])
    nginx = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp_path)])
    wait_for_port(port, process=nginx)
    yield cluster, port
    nginx.terminate()
    nginx.wait(10)
    cluster.stop()
    cluster.assert_no_tracebacks()


def test_the_config_is_valid_nginx(tmp_path):
    config = nginx_config(tmp_path, free_port(), [free_port(), free_port()])
    result = subprocess.run(
        [NGINX, "-t", "-c", str(config), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


async def test_chat_through_nginx_survives_a_node_stopping_behind_it(balanced):
    cluster, port = balanced
    [room] = cluster.make_rooms(["Balanced"])
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    assert http.get("/healthz").text == "ok\n"
    clients = [ResilientClient(name, key, [port], [room]) for name, key in cluster.make_sessions(8, "lb")]
    for client in clients:
        client.start()
    await wait_until(
        lambda: all(c.connected.is_set() for c in clients), "every client connected through nginx"
    )
    counts = {}
    for node in cluster.nodes:  # round robin spread the sockets over both nodes
        text = httpx.get(f"{node.http_url}/metrics").text
        counts[node.name] = float(
            re.search(r'chat_connections\{transport="websocket"\} (\S+)', text).group(1)
        )
    assert all(count > 0 for count in counts.values()), counts

    sent = [0]

    async def chat(client: ResilientClient) -> None:
        for n in range(10):
            await client.send(room, f"{client.name} {n}", f"{client.name}-{n}")
            sent[0] += 1
            await asyncio.sleep(0.1)  # the chat's pace: 10 messages/s per client

    senders = [asyncio.create_task(chat(c)) for c in clients]
    await wait_until(lambda: sent[0] >= 80 * 0.4, "40% of the 80 messages sent")
    cluster.nodes[0].stop()  # SIGTERM: its clients get 1012 and come back through nginx to node 2
    await asyncio.gather(*senders)
    await wait_until(
        lambda: all(not c.unacked for c in clients) and all(c.last_seq[room] == 80 for c in clients),
        lambda: f"every message acked and received by all; last seqs {[c.last_seq[room] for c in clients]}",
        timeout=60,
    )
    for client in clients:
        await client.stop()
    assert all(sorted(set(c.received[room])) == list(range(1, 81)) for c in clients)
    assert all(c.gaps == [] for c in clients)
    assert 1012 in {code for c in clients for code in c.close_codes}
    assert http.get("/healthz").status_code == 200  # nginx now sends everything to node 2


async def test_sockjs_through_nginx_round_robin_streams_and_polls(balanced):
    """nginx spreads a session's requests over both nodes; streamed frames are not buffered."""
    cluster, port = balanced
    [room] = cluster.make_rooms(["Fallback behind nginx"])
    (_, key_a), (name_b, key_b) = cluster.make_sessions(2, "lbsockjs")
    url = f"http://127.0.0.1:{port}"
    streaming = await SockJSClient([url], key_a, transport="xhr_streaming").open()
    polling = await SockJSClient([url], key_b, transport="xhr").open()
    await streaming.subscribe(room)
    await polling.subscribe(room)
    for n in range(10):
        await polling.send_message(room, f"poll {n}", f"p{n}")
        got = await streaming.recv_type("message", timeout=2)  # one small frame, not a buffer's worth
        assert (got["author"], got["body"], got["seq"]) == (name_b, f"poll {n}", n + 1)
    for node in cluster.nodes:  # the polling session's requests landed on both nodes
        assert f"/sockjs/000/{polling.session_id}/xhr" in node.log_path.read_text(), node.name
    await streaming.close()
    await polling.close()


def test_uploads_through_nginx_take_files_over_the_default_body_limit_and_refuse_oversized_ones(balanced):
    """nginx's 1 MB body limit holds for every request but uploads, which may carry the upload
    limit and its framing (CHAT_REQUEST_MAX_BYTES): a 2 MiB file is stored, a larger body than the
    limit is refused by nginx from its Content-Length."""
    cluster, port = balanced
    user = HttpUser(f"http://127.0.0.1:{port}")
    user.signup("nginxuploader", "correct-horse-battery-9")
    user.client.get("/")
    headers = {"X-CSRFToken": user.client.cookies["csrftoken"]}
    text = b"two mebibytes of text\n" * (2 * 1024 * 1024 // 22)
    answer = user.client.post("/api/uploads/", files={"file": ("big.txt", text)}, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text[:300]
    assert answer.json()["size"] == len(text)
    assert user.client.post("/", content=b"x" * (2 * 1024 * 1024)).status_code == 413  # elsewhere: 1 MB
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/uploads/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n" % (27 * 1024 * 1024)
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
