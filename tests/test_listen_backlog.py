"""A node is ready for a reconnect storm (config/server.py): it listens with a backlog large enough
(LISTEN_BACKLOG, not Twisted's 50: the clients of a dead node all reconnect within a second), and
a WebSocket connect queued behind thousands of others is served, not refused after daphne's 5 s."""

import subprocess

import pytest

from chat.testing.cluster import start_cluster
from config.server import LISTEN_BACKLOG, PING_INTERVAL, WEBSOCKET_CONNECT_TIMEOUT, ChatCommandLineInterface

pytestmark = pytest.mark.cluster


def test_a_node_listens_with_the_storm_backlog(tmp_path):
    cluster = start_cluster(tmp_path, nodes=1)
    try:
        port = cluster.nodes[0].port
        # For a listening socket, `ss` shows the backlog as Send-Q.
        lines = subprocess.run(
            ["ss", "-Hltn", f"sport = :{port}"], check=True, capture_output=True, text=True
        ).stdout.split("\n")
        backlogs = {int(line.split()[2]) for line in lines if line.strip()}
        assert backlogs == {LISTEN_BACKLOG}
    finally:
        cluster.stop()
    cluster.assert_no_tracebacks()


def test_a_queued_websocket_connect_waits_a_minute_unless_told_otherwise():
    parse = ChatCommandLineInterface().parser.parse_args
    assert parse(["config.asgi:application"]).websocket_connect_timeout == WEBSOCKET_CONNECT_TIMEOUT == 60
    assert (
        parse(["--websocket_connect_timeout", "7", "config.asgi:application"]).websocket_connect_timeout == 7
    )


def test_an_open_websocket_is_pinged_every_30_seconds_unless_told_otherwise():
    parse = ChatCommandLineInterface().parser.parse_args
    assert parse(["config.asgi:application"]).ping_interval == PING_INTERVAL == 30
    assert parse(["--ping-interval", "12", "config.asgi:application"]).ping_interval == 12
