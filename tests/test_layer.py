"""The channel layer (chat/layer.py) on a real Valkey."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio


async def test_the_first_channel_of_a_fresh_event_loop_receives():
    """Regression: the receive task used to ping while the first SUBSCRIBE was in flight, which
    opened a second connection; the first subscription then went unread and was lost."""
    layer = get_channel_layer()
    assert layer._get_layer().channels == {}, "this test needs a loop the layer has not seen"
    first = await layer.new_channel("test.")
    await layer.send(first, {"type": "test.message", "n": 1})
    assert (await asyncio.wait_for(layer.receive(first), 3))["n"] == 1


async def test_a_dropped_channel_is_unsubscribed():
    layer = get_channel_layer()
    channel = await layer.new_channel("test.")
    # The subscription commands and NUMSUB go over different connections: wait for them to settle.
    await wait_until(lambda: layer.has_receiver(channel), "the new channel has a receiver in Redis")

    async def unsubscribed() -> bool:
        return not await layer.has_receiver(channel)

    await layer.drop_channel(channel)
    await wait_until(unsubscribed, "the dropped channel has no receiver left in Redis")


async def test_send_local_reaches_a_queue_channel_and_a_direct_receiver_in_order():
    layer = get_channel_layer()
    queued = await layer.new_channel("test.")
    layer.send_local(queued, {"type": "test.local", "n": 1})
    assert (await asyncio.wait_for(layer.receive(queued), 3)) == {"type": "test.local", "n": 1}

    direct = await layer.new_channel("test.")
    got = []

    async def handle(message):
        got.append(message["n"])

    layer.receive_directly(direct, handle)
    for n in (1, 2, 3):
        layer.send_local(direct, {"type": "test.local", "n": n})
    layer.send_local("test.nobody-here", {"type": "test.local", "n": 4})  # no consumer: nothing happens
    await wait_until(lambda: len(got) >= 3, lambda: f"three messages handled directly, got {got}")
    assert got == [1, 2, 3]
    layer.stop_receiving_directly(direct)
    await layer.drop_channel(direct)


async def test_a_group_message_reaches_each_member_once_on_the_sending_node_and_on_another():
    # Local first: the sending node's members get the message without Redis, and the copy Redis
    # sends back to that node is skipped; another node's members get it through Redis.
    from django.conf import settings

    here = get_channel_layer()
    there = type(here)(**settings.CHANNEL_LAYERS["default"]["CONFIG"])  # a second node's layer
    group, got = "test-local-first", {"here": [], "there": []}
    for layer, name in ((here, "here"), (there, "there")):
        channel = await layer.new_channel("test.")

        async def handle(message, name=name):
            got[name].append(message["n"])

        layer.receive_directly(channel, handle)
        await layer.group_add(group, channel)
    queued = await here.new_channel("test.")
    await here.group_add(group, queued)

    await here.group_send(group, {"type": "test.group", "n": 1})
    await wait_until(lambda: got["there"], "the other node got the message through Redis")
    # A marker that reaches this node only through Redis, published after Redis' copy of the
    # first message to this node: once it is here, that copy has arrived (and was skipped) too.
    await there.group_send(group, {"type": "test.group", "n": 2})
    await wait_until(lambda: 2 in got["here"], lambda: f"the marker reached the sending node, got {got}")
    assert got == {"here": [1, 2], "there": [1, 2]}
    assert (await asyncio.wait_for(here.receive(queued), 1))["n"] == 1
    assert (await asyncio.wait_for(here.receive(queued), 1))["n"] == 2
    assert here._get_layer().backlog(queued) == 0
