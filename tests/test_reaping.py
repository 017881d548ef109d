"""ChatServer's application walk (config/server.py, item 14): daphne's own reaping code, run over only
the connections that closed or whose application finished, never over open ones whose application
runs; and what daphne would reap, it still reaps."""

import asyncio

import pytest

import config.server
from config.server import ChatServer

pytestmark = pytest.mark.asyncio


async def application(scope, receive, send):
    """Ends when told ("finish") or when its connection closes, unless it is "stubborn"."""
    while True:
        event = await receive()
        if event["type"] == "finish" or (event["type"] == "disconnect" and not scope.get("stubborn")):
            return


class Protocol:
    """A stand-in for daphne's protocol objects: the walk only keys its dict by them."""


async def until(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(config.server.reactor, "callLater", lambda *args, **kwargs: None)
    server = ChatServer(application=application, endpoints=["tcp:port=0"])  # never listened on
    server._walked, server._to_reap, server.connections = {}, set(), {}  # as run() sets them
    return server


def walk(server) -> None:
    server._walked.clear()  # due now
    server.application_checker()


async def test_only_closed_or_finished_connections_are_walked_and_each_is_reaped(server):
    opened = {}
    for name in ("open", "closed", "finished", "stubborn"):
        protocol = opened[name] = Protocol()
        server.protocol_connected(protocol)
        opened[name].queue = server.create_application(
            protocol, {"type": "websocket", "stubborn": name == "stubborn"}
        )
    instances = {name: server.connections[p]["application_instance"] for name, p in opened.items()}

    # An open connection with a running application is never a candidate.
    walk(server)
    assert server._to_reap == set() and len(server.connections) == 4

    server.protocol_disconnected(opened["closed"])
    opened["closed"].queue.put_nowait({"type": "disconnect"})
    opened["finished"].queue.put_nowait({"type": "finish"})
    server.protocol_disconnected(opened["stubborn"])
    opened["stubborn"].queue.put_nowait({"type": "disconnect"})
    # (An application's done callback runs on the loop's next turn after it ends.)
    await until(lambda: server._to_reap == {opened["closed"], opened["finished"], opened["stubborn"]})
    assert instances["closed"].done() and instances["finished"].done() and not instances["stubborn"].done()

    walk(server)
    # Closed and done: forgotten. Done but open: its application reaped, the connection kept (its
    # close will list it again). Closed, application still running: kept, and walked again.
    assert set(server.connections) == {opened["open"], opened["finished"], opened["stubborn"]}
    assert "application_instance" not in server.connections[opened["finished"]]
    assert server._to_reap == {opened["stubborn"]}

    # Past application_close_timeout daphne cancels the stubborn application; the walk after forgets it.
    server.application_close_timeout = -1
    walk(server)
    await until(lambda: instances["stubborn"].done() and opened["stubborn"] in server._to_reap)
    walk(server)
    assert set(server.connections) == {opened["open"], opened["finished"]}
    assert instances["stubborn"].cancelled() and not instances["open"].done()

    server.protocol_disconnected(opened["finished"])  # its close, at last
    walk(server)
    assert set(server.connections) == {opened["open"]} and server._to_reap == set()
    instances["open"].cancel()
