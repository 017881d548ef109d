"""Each design's two server processes: ours (on daphne or uvicorn), the tutorial design, python-socketio."""

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import BASE_DIR, SUBSCRIBERS
from chat.devcluster import free_port, start_redis, wait_for_port
from chat.testing.cluster import Cluster, start_cluster


@dataclass
class Deployment:
    """Two server processes of one design, and how the load generator reaches them."""

    design: str
    pids: list[int]
    stop: callable
    # (role, index, room) -> dict for loadgen. Client i of either role connects to node i % 2, as a
    # load balancer would spread them: the fan-out's one publisher is on node 1, and in many rooms
    # each room has one sender on each node.
    clients: callable
    cluster: Cluster | None = None
    extra: dict = field(default_factory=dict)


DATABASE = {"url": None}  # --database postgres sets a server the bench starts


def start_ours(workdir: Path) -> Deployment:
    # The one publisher sends up to 100 msg/s: no rate limit in effect. The limit's count still runs
    # for every send, over the author's messages of the last second (a 1 s window).
    limits = {
        "CHAT_RATE_LIMIT_MESSAGES": "100000000", "CHAT_RATE_LIMIT_WINDOW": "1",
        "CHAT_CHANGE_RATE_LIMIT": "100000000", "CHAT_CHANGE_RATE_WINDOW": "1",
        # The search scenario's one searcher makes 2,400 searches in a few minutes.
        "CHAT_SEARCH_RATE_LIMIT": "100000000",
        # The idle steps hold up to 15,000 sockets with the 400 bench users' sessions.
        "CHAT_MAX_SOCKETS_PER_USER": "100",
        # The production default (the test clusters tick twice as often): idle CPU counts these ticks.
        "CHAT_REPAIR_INTERVAL": "1.0",
    }  # fmt: skip
    cluster = start_cluster(workdir, database_url=DATABASE["url"], LOG_LEVEL="WARNING", **limits)
    sessions = cluster.make_sessions(2 * SUBSCRIBERS, "bench")
    ports = [node.port for node in cluster.nodes]

    def clients(role: str, index: int, room: str) -> dict:
        port = ports[index % 2]
        key = sessions[(index if role == "sub" else SUBSCRIBERS + index) % len(sessions)][1]
        return {
            "url": f"ws://127.0.0.1:{port}/ws/",
            "cookie": key,
            "origin": f"http://127.0.0.1:{port}",
            "room": room,
        }

    return Deployment(
        "ours",
        [n.process.pid for n in cluster.nodes],
        cluster.stop,
        clients,
        cluster,
        extra={"redis_pid": cluster.redis.process.pid},
    )


def start_ours_uvicorn(workdir: Path) -> Deployment:
    """Our application on uvicorn instead of daphne: is another ASGI server worth offering?

    Same cluster, database and Redis as `ours`; only the server process differs. Our daphne
    changes (config/server.py: the send-buffer cap, the graceful SIGTERM, the cheaper send path)
    do not apply; uvicorn brings its own (websockets' write path, 1012 on shutdown).
    """
    deployment = start_ours(workdir)
    for node in deployment.cluster.nodes:
        env = node.process_env()
        node.stop()
        node.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "config.asgi:application",
                "--host", "127.0.0.1", "--port", str(node.port), "--ws", "websockets",
                "--ws-max-size", str(64 * 1024), "--lifespan", "off", "--no-access-log",
                "--log-level", "warning",
            ],
            cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(node.port, process=node.process, timeout=30)
    deployment.pids[:] = [node.process.pid for node in deployment.cluster.nodes]
    return deployment


def _baseline(design: str, workdir: Path, command: list[str], url: str, env: dict[str, str]) -> Deployment:
    """Two processes of a baseline on free ports and one Redis; `command` and `url` contain {port}."""
    redis = start_redis(data_dir=workdir / "redis")
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [part.format(port=port) for part in command],
            cwd=BASE_DIR,
            env={**os.environ, **env, "BENCH_REDIS_URL": redis.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    for process, port in zip(processes, ports, strict=True):
        wait_for_port(port, process=process, timeout=30)

    def stop() -> None:
        for process in processes:
            process.terminate()
            process.wait(10)
        redis.stop()

    def clients(role: str, index: int, room: str) -> dict:
        port = ports[index % 2]
        return {"url": url.format(port=port, room=room), "room": room}

    return Deployment(design, [p.pid for p in processes], stop, clients)


def start_tutorial(workdir: Path) -> Deployment:
    command = [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        "{port}",
        "bench.tutorial.asgi:application",
    ]
    return _baseline("tutorial", workdir, command, "ws://127.0.0.1:{port}/ws/chat/{room}/", {})


def start_socketio(workdir: Path) -> Deployment:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.socketio_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
    return _baseline("socketio", workdir, [*command, "--log-level", "warning"], "http://127.0.0.1:{port}", {})


# "ours-uvicorn" is not a baseline: our server on another ASGI server (`--designs ours,ours-uvicorn`).
STARTERS = {
    "ours": start_ours,
    "tutorial": start_tutorial,
    "socketio": start_socketio,
    "ours-uvicorn": start_ours_uvicorn,
}


def room_names(deployment: Deployment, count: int, prefix: str) -> list[str]:
    if deployment.cluster is not None:
        return deployment.cluster.make_rooms([f"{prefix} {i}" for i in range(count)])
    return [f"{prefix}{i}" for i in range(count)]
