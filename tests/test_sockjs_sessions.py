"""A SockJS session's state machine (chat/transports/sockjs/session.py, owned through relay.py) in-process, on a real Valkey."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from chat.transports.sockjs import relay
from chat.transports.sockjs import session as sessions
from chat.transports.sockjs.endpoints import Endpoint
from chat.transports.sockjs.handlers import Handler
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio


class Recorder(Handler):
    """Records what it handles; a client message takes until the test lets it finish (as a
    database read takes a while)."""

    log: list[str] = []
    finish: dict[str, asyncio.Event] = {}

    async def received(self, text: str) -> None:
        self.log.append(f"start {text}")
        await self.finish[text].wait()
        self.log.append(f"end {text}")

    async def event(self, message) -> None:
        self.log.append(f"event {message['n']}")


async def test_client_messages_and_events_are_handled_one_at_a_time_in_order(monkeypatch):
    """Regression: events were handled while a client message was still being handled, so a
    gap fill could run in the middle of a subscribe."""
    Recorder.log = []
    Recorder.finish = {"first": asyncio.Event(), "second": asyncio.Event()}
    Recorder.finish["second"].set()
    monkeypatch.setattr(sessions, "make_handler", lambda name, connection, **_: Recorder(connection))
    session = relay.OwnedSession(
        Endpoint("recorder", "/test-sockjs"), "s1", user=None, session_key=None, transport="xhr"
    )
    assert await session.claim()
    try:
        receiver = sessions.LocalReceiver(polling=False, overhead=1, limit=1 << 20)
        await session.attach(receiver)
        assert await receiver.queue.get() == ("o", False)
        assert session.take(["first"])
        await wait_until(lambda: Recorder.log == ["start first"], '"first" is being handled')
        await get_channel_layer().send(session.channel, {"type": "chat.test", "n": 1})
        await wait_until(lambda: session.inbox.qsize() == 1, 'the event arrived while "first" is handled')
        assert session.take(["second"])
        Recorder.finish["first"].set()
        await wait_until(lambda: len(Recorder.log) == 5, lambda: f"all handled, got {Recorder.log}")
        assert Recorder.log == ["start first", "end first", "event 1", "start second", "end second"]
    finally:
        await session.close(3000, "done")
        await session._teardown()


@pytest.mark.django_db(transaction=True)
async def test_a_session_closed_during_a_subscribe_leaves_no_presence_behind(alice, room, monkeypatch):
    """A SockJS session handles client messages in one task and closes from another: a close that
    came while a subscribe read the database used to find no presence entry to remove, and the
    subscribe then joined presence for a connection that was gone; the node's heartbeat kept that
    entry alive for ever (the user "online" with no connection)."""
    import json
    import threading

    from chat.protocol import handlers
    from chat.protocol.handlers import subscriptions
    from chat.realtime import presence
    from chat.realtime.redisclient import redis_client

    started, release = threading.Event(), threading.Event()
    real = subscriptions.catch_up

    def held_catch_up(*args, **kwargs):
        started.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(subscriptions, "catch_up", held_catch_up)
    handled = asyncio.Event()

    async def subscribe_then_note(chat, frame):
        try:
            await subscriptions.subscribe(chat, frame)
        finally:
            handled.set()

    monkeypatch.setitem(handlers.CLIENT_FRAMES, "subscribe", subscribe_then_note)
    session = relay.OwnedSession(
        Endpoint("chat", "/sockjs", chat=True), "s-close", user=alice, session_key=None, transport="xhr"
    )
    assert await session.claim()
    receiver = sessions.LocalReceiver(polling=False, overhead=1, limit=1 << 20)
    await session.attach(receiver)
    assert session.take([json.dumps({"type": "subscribe", "room": room.slug})])
    await wait_until(started.is_set, "the subscribe is reading the database")
    await session.close(3000, "gone")  # the client went away meanwhile
    release.set()
    await asyncio.wait_for(handled.wait(), 10)  # the subscribe ran to its end
    try:
        assert room.pk not in presence._nodes.get().local
        assert await redis_client().zrange(presence._key(room.pk), 0, -1) == []
    finally:
        await session._teardown()
