"""Searches and the rest of a node (chat/protocol/searching.py): a slow search holds up nobody else's
send, and each user's searches are rate-limited across connections. Through the real ASGI stack and
a real Redis; the cluster and both databases: tests/test_files_search_cluster.py."""

import asyncio
import threading
import time

import pytest

from chat.domain import selectors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_a_slow_search_holds_up_no_send_of_the_node(alice, bob, room, socket_for, monkeypatch):
    """A search that takes 2 s (a common word among millions of messages on SQLite) runs on the
    node's search threads: another user's send is stored and acked meanwhile, at once."""
    real = selectors.messages_search
    started, release = threading.Event(), threading.Event()

    def slow_search(**kwargs):
        started.set()
        release.wait(10)  # held until the send below was acked, or 10 s
        return real(**kwargs)

    monkeypatch.setattr(selectors, "messages_search", slow_search)
    searcher, sender = await socket_for(alice), await socket_for(bob)
    await sender.send({"type": "subscribe", "room": room.slug})
    await sender.recv_type("subscribed")
    await searcher.send({"type": "search", "query": "anything", "ref": "slow"})
    assert await asyncio.to_thread(started.wait, 5), "the search never started"
    began = time.monotonic()
    await sender.send({"type": "message.send", "room": room.slug, "body": "meanwhile", "client_msg_id": "m1"})
    ack = await sender.recv_type("message.ack")
    waited = time.monotonic() - began
    release.set()
    assert ack["client_msg_id"] == "m1"
    assert waited < 2, f"the send waited {waited:.1f} s behind the search"
    assert (await searcher.recv_type("search.results"))["ref"] == "slow"


async def test_people_searches_are_limited_per_user_over_every_connection(alice, bob, socket_for, settings):
    settings.CHAT_USERS_SEARCH_RATE_LIMIT = 3
    first, second, other = await socket_for(alice), await socket_for(alice), await socket_for(bob)
    for i, sock in enumerate([first, second, first]):
        await sock.send({"type": "users.search", "query": "b", "ref": f"p{i}"})
        assert (await sock.recv_type("users"))["ref"] == f"p{i}"
    await second.send({"type": "users.search", "query": "b", "ref": "late"})
    refused = await second.recv_type("error")
    assert (refused["code"], refused["ref"]) == ("rate_limited", "late")
    assert 1 <= refused["retry_after"] <= settings.CHAT_SEARCH_RATE_WINDOW
    await other.send({"type": "users.search", "query": "a", "ref": "bob"})
    assert [user["username"] for user in (await other.recv_type("users"))["users"]] == ["alice"]


async def test_a_malformed_search_is_refused_and_the_connection_searches_on(alice, socket_for):
    sock = await socket_for(alice)
    for frame in (
        {"type": "search"},
        {"type": "search", "query": 7},
        {"type": "search", "query": "x", "room": ["general"]},
        {"type": "search", "query": "x", "after": "yesterday"},
        {"type": "search", "query": "x", "limit": 10_000},
        {"type": "users.search", "query": ""},
        {"type": "users.search", "query": "\ud800"},
    ):
        await sock.send({**frame, "ref": "bad"})
        error = await sock.recv_type("error")
        assert error["code"] in ("invalid_field", "invalid_query", "unknown_room"), (frame, error)
    await sock.send({"type": "search", "query": "fine", "ref": "ok"})
    assert (await sock.recv_type("search.results"))["results"] == []
