"""Presence and typing over the real ASGI stack and a real Redis."""

import pytest
from channels.db import database_sync_to_async

from chat.domain import rooms

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


async def test_several_tabs_of_one_user_count_once(alice, bob, make_user, room, socket_for):
    a = await socket_for(alice)
    await subscribe(a)
    tab1, tab2 = await socket_for(bob), await socket_for(bob)
    await subscribe(tab1)
    assert (await subscribe(tab2))["users"] == ["alice", "bob"]
    assert (await a.recv_type("presence"))["joined"] == ["bob"]
    await tab1.close()
    # Bob is still there in tab 2: the next change alice sees is carol joining, and only that.
    await subscribe(await socket_for(await database_sync_to_async(make_user)("carol")))
    change = await a.recv()
    assert (change["type"], change["users"], change["joined"], change["left"]) == (
        "presence", ["alice", "bob", "carol"], ["carol"], [],
    )  # fmt: skip
    await tab2.send({"type": "unsubscribe", "room": "general"})
    assert (await a.recv_type("presence"))["left"] == ["bob"]


async def test_typing_reaches_the_others_once_per_interval(alice, bob, room, socket_for):
    await database_sync_to_async(rooms.room_create)(creator=alice, title="Other")
    a, b = await socket_for(alice), await socket_for(bob)
    for slug in ("general", "other"):
        await subscribe(a, slug)
        await subscribe(b, slug)
    await a.send({"type": "typing", "room": "general"})
    await a.send({"type": "typing", "room": "general"})  # within 2 s: dropped
    await a.send({"type": "typing", "room": "other"})  # another room's interval: relayed, after it
    typing = [await b.recv_type("typing") for _ in range(2)]
    assert typing == [{"type": "typing", "room": slug, "user": "alice"} for slug in ("general", "other")]
    # Not her own: the first typing alice sees is bob's, sent after all of hers.
    await b.send({"type": "typing", "room": "general"})
    assert await a.recv_type("typing") == {"type": "typing", "room": "general", "user": "bob"}


async def test_typing_needs_a_subscription(alice, room, socket_for):
    a = await socket_for(alice)
    await a.send({"type": "typing", "room": "general"})
    assert (await a.recv())["code"] == "not_subscribed"


async def test_a_user_seen_online_in_an_answer_is_announced_gone_even_between_polls(
    alice, bob, socket_for, settings
):
    # Bob joins and leaves between two polls; alice's room.members answer saw him meanwhile. The
    # node takes that answer as told to its subscribers, so the next poll announces him gone (the
    # member panel showed him online for good before: the poll had never seen him).
    settings.CHAT_PRESENCE_POLL = 3.0
    club = await database_sync_to_async(rooms.room_create)(creator=alice, title="Club", is_private=True)
    await database_sync_to_async(rooms.room_member_add)(room_slug=club.slug, actor=alice, username="bob")
    a = await socket_for(alice)
    assert (await subscribe(a, club.slug))["users"] == ["alice"]
    b = await socket_for(bob)
    assert (await subscribe(b, club.slug))["users"] == ["alice", "bob"]
    await a.send({"type": "room.members", "room": club.slug})
    members = {m["username"]: m["presence"] for m in (await a.recv_type("room.members"))["members"]}
    assert members["bob"] == "online"
    await b.close()
    seen = await a.recv_type("presence")  # sent with the answer, not by a poll
    assert (seen["users"], seen["joined"]) == (["alice", "bob"], ["bob"])
    gone = await a.recv_type("presence", timeout=10)
    assert (gone["users"], gone["left"]) == (["alice"], ["bob"])
    await a.send({"type": "room.members", "room": club.slug})
    members = {m["username"]: m["presence"] for m in (await a.recv_type("room.members"))["members"]}
    assert members["bob"] == "offline"
