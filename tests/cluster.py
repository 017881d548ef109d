"""A real cluster for tests: a Valkey server, a migrated SQLite database, daphne nodes."""

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chat.devcluster import BASE_DIR, Node, RedisProcess, free_port, start_redis
from tests.chatclient import HttpUser, WsClient


@dataclass
class Cluster:
    workdir: Path
    redis: RedisProcess
    nodes: list[Node]
    env: dict[str, str]

    def restart_all(self) -> None:
        for node in self.nodes:
            node.stop()
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.stop()

    def logs(self) -> str:
        return "".join(node.log_path.read_text() for node in self.nodes if node.log_path.exists())

    def assert_no_tracebacks(self) -> None:
        for node in self.nodes:
            log = node.log_path.read_text()
            assert "Traceback" not in log, f"{node.name} logged a traceback:\n{log[-4000:]}"

    def make_sessions(self, count: int, prefix: str) -> list[tuple[str, str]]:
        """Create `count` users with a logged-in session each; returns (username, session key)."""
        code = (
            "import json; from django.contrib.auth import get_user_model; "
            "from django.contrib.sessions.backends.db import SessionStore; "
            "from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY; out = []\n"
            f"for i in range({count}):\n"
            f"    u = get_user_model().objects.create_user(username='{prefix}' + str(i), password=None)\n"
            "    s = SessionStore(); s[SESSION_KEY] = str(u.pk); "
            "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'; "
            "s[HASH_SESSION_KEY] = u.get_session_auth_hash(); s.create(); out.append((u.username, s.session_key))\n"
            "print(json.dumps(out))"
        )
        return [tuple(pair) for pair in json.loads(self.django(code))]

    def make_rooms(self, titles: list[str]) -> list[str]:
        """Create public rooms through the services; returns their slugs."""
        code = (
            "import json; from chat import services\n"
            f"print(json.dumps([services.room_create(creator=None, title=t).slug for t in {titles!r}]))"
        )
        return json.loads(self.django(code))

    def django(self, code: str) -> str:
        """Run Python code with the cluster's settings (`manage.py shell -c`); returns its last line."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=BASE_DIR,
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip().splitlines()[-1]

    def sql(self, statement: str, *params) -> list[tuple]:
        """Run SQL on the cluster's database, as another node's process would."""
        import sqlite3

        with sqlite3.connect(self.workdir / "chat.sqlite3", timeout=30, isolation_level=None) as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(statement, params).fetchall()
            db.execute("COMMIT")
        return rows


def start_cluster(workdir: Path, *, nodes: int = 2, **env_overrides: str) -> Cluster:
    redis = start_redis(data_dir=workdir / "redis")
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'chat.sqlite3'}",
        "REDIS_URL": redis.url,
        "SECRET_KEY": "cluster-test-secret-key-not-for-production-use-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHAT_RATE_LIMIT_MESSAGES": "1000",
        "CHAT_REPAIR_INTERVAL": "0.5",
        **env_overrides,
    }
    env["STATIC_ROOT"] = str(workdir / "static")
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v", "0"],
            cwd=BASE_DIR,
            env={**os.environ, **env},
            check=True,
        )
    started = [
        Node(name=f"node{i}", port=free_port(), env=env, log_path=workdir / f"node{i}.log").start()
        for i in range(1, nodes + 1)
    ]
    return Cluster(workdir=workdir, redis=redis, nodes=started, env=env)


_names = itertools.count(1)


def new_user(cluster: Cluster, *, node: int = 0) -> tuple[str, HttpUser]:
    """Sign a fresh user up through the given node; returns (username, logged-in HTTP session)."""
    username = f"user{next(_names)}"
    http = HttpUser(cluster.nodes[node].http_url)
    http.signup(username, "correct-horse-battery-9")
    return username, http


async def connect(cluster: Cluster, http: HttpUser, node: int) -> WsClient:
    return await WsClient.connect(cluster.nodes[node].port, http.session_cookie)
