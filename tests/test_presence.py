"""Presence and typing over the real ASGI stack and a real Redis."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def subscribe(sock, slug="general"):
    await sock.send({"type": "subscribe", "room": slug})
    return await sock.recv_type("presence")


async def test_subscribers_get_the_full_list_then_joins_and_leaves(alice, bob, room, socket_for):
    a = await socket_for(alice)
    assert (await subscribe(a))["users"] == ["alice"]
    b = await socket_for(bob)
    assert (await subscribe(b))["users"] == ["alice", "bob"]
    joined = await a.recv_type("presence")
    assert (joined["users"], joined["joined"], joined["left"]) == (["alice", "bob"], ["bob"], [])
    await b.send({"type": "unsubscribe", "room": "general"})
    left = await a.recv_type("presence")
    assert (left["users"], left["joined"], left["left"]) == (["alice"], [], ["bob"])


async def test_several_tabs_of_one_user_count_once(alice, bob, room, socket_for):
    a = await socket_for(alice)
    await subscribe(a)
    tab1, tab2 = await socket_for(bob), await socket_for(bob)
    await subscribe(tab1)
    assert (await subscribe(tab2))["users"] == ["alice", "bob"]
    assert (await a.recv_type("presence"))["joined"] == ["bob"]
    await tab1.close()
    assert await a.nothing(0.8)  # bob is still there in tab 2
    await tab2.send({"type": "unsubscribe", "room": "general"})
    assert (await a.recv_type("presence"))["left"] == ["bob"]


async def test_typing_reaches_the_others_once_per_interval(alice, bob, room, socket_for):
    a, b = await socket_for(alice), await socket_for(bob)
    await subscribe(a)
    await subscribe(b)
    await a.send({"type": "typing", "room": "general"})
    await a.send({"type": "typing", "room": "general"})  # within 2 s: dropped
    assert await b.recv_type("typing") == {"type": "typing", "room": "general", "user": "alice"}
    assert [f for f in await b.drain(0.6) if f["type"] == "typing"] == []
    assert [f for f in await a.drain(0.1) if f["type"] == "typing"] == []  # not her own


async def test_typing_needs_a_subscription(alice, room, socket_for):
    a = await socket_for(alice)
    await a.send({"type": "typing", "room": "general"})
    assert (await a.recv())["code"] == "not_subscribed"
