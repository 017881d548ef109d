"""A real local cluster for tests and the bench: a Valkey server, a migrated database, daphne nodes."""

import contextlib
import glob
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chat.devcluster import BASE_DIR, Node, RedisProcess, free_port, start_redis
from chat.testing.clients import HttpUser, WsClient


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
        """Create `count` users named prefix0, prefix1, ... with a logged-in session each."""
        return self.make_users([f"{prefix}{i}" for i in range(count)])

    def make_users(self, usernames: list[str]) -> list[tuple[str, str]]:
        """Create these users (no validation: tests use hostile names too) with a logged-in session
        each; returns (username, session key) pairs."""
        code = (
            "import json; from django.contrib.auth import get_user_model; "
            "from django.contrib.sessions.backends.db import SessionStore; "
            "from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY; out = []\n"
            f"for name in {usernames!r}:\n"
            "    u = get_user_model().objects.create_user(username=name, password=None)\n"
            "    s = SessionStore(); s[SESSION_KEY] = str(u.pk); "
            "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'; "
            "s[HASH_SESSION_KEY] = u.get_session_auth_hash(); s.create(); out.append((u.username, s.session_key))\n"
            "print(json.dumps(out))"
        )
        return [tuple(pair) for pair in json.loads(self.django(code))]

    def make_rooms(self, titles: list[str]) -> list[str]:
        """Create public rooms through the services; returns their slugs."""
        code = (
            "import json; from chat.domain import rooms\n"
            f"print(json.dumps([rooms.room_create(creator=None, title=t).slug for t in {titles!r}]))"
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


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's binaries, initdb into a temp dir)."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/chat"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` runs scripts/ensure-postgres.sh")
    return found[-1]


def start_postgres() -> PostgresServer:
    """initdb + start on a free port; trust auth on 127.0.0.1 only; a `chat` database."""
    directory = Path(tempfile.mkdtemp(prefix="chat-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")  # initdb refuses to run as root
    server = PostgresServer(directory=directory, port=free_port())
    data = str(directory / "data")
    server._run(_pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    options = f"-p {server.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    server._run(_pg_bin("pg_ctl"), "-D", data, "-o", options, "-l", str(directory / "log"), "-w", "start")
    server._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "chat")
    return server


def start_cluster(
    workdir: Path,
    *,
    nodes: int = 2,
    database_url: str | None = None,
    redis: RedisProcess | None = None,
    redis_url: str | None = None,
    node_args: tuple[str, ...] = (),
    **env_overrides: str,
) -> Cluster:
    """Start Redis (unless given), migrate and collect static files, and start the nodes."""
    workdir.mkdir(parents=True, exist_ok=True)
    owns_redis = redis is None
    redis = redis or start_redis(data_dir=workdir / "redis")
    started: list[Node] = []
    try:
        env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'chat.sqlite3'}",
            "REDIS_URL": redis_url or redis.url,
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
        for i in range(1, nodes + 1):
            node = Node(
                name=f"node{i}", port=free_port(), env=env, log_path=workdir / f"node{i}.log", args=node_args
            )
            started.append(node)  # before start(), so a node that fails to listen is stopped too
            node.start()
    except BaseException:
        # Nothing this call started may outlive a failed start.
        for node in started:
            node.stop()
        if owns_redis:
            redis.stop()
        raise
    return Cluster(workdir=workdir, redis=redis, nodes=started, env=env)


# The databases the cluster tests run on: the embedded default and a real PostgreSQL.
DATABASES = ["sqlite", "postgres"]


@contextlib.contextmanager
def cluster_on(database: str, workdir: Path, **kwargs) -> Iterator[Cluster]:
    """A cluster (start_cluster's arguments) on SQLite or on a PostgreSQL server of its own; stopped
    afterwards, and then its nodes' logs checked for tracebacks."""
    postgres = start_postgres() if database == "postgres" else None
    try:
        cluster = start_cluster(workdir, database_url=postgres.url if postgres else None, **kwargs)
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        if postgres:
            postgres.stop()
    cluster.assert_no_tracebacks()


_names = itertools.count(1)


def new_user(cluster: Cluster, *, node: int = 0) -> tuple[str, HttpUser]:
    """Sign a fresh user up through the given node; returns (username, logged-in HTTP session)."""
    username = f"user{next(_names)}"
    http = HttpUser(cluster.nodes[node].http_url)
    http.signup(username, "correct-horse-battery-9")
    return username, http


async def connect(cluster: Cluster, http: HttpUser, node: int) -> WsClient:
    return await WsClient.connect(cluster.nodes[node].port, http.session_cookie)
