"""The channel layer (chat/layer.py) on a real Valkey."""

import asyncio

import pytest
from channels.layers import get_channel_layer

pytestmark = pytest.mark.asyncio


async def test_the_first_channel_of_a_fresh_event_loop_receives():
    """Regression: the receive task used to ping while the first SUBSCRIBE was in flight, which
    opened a second connection; the first subscription then went unread and was lost."""
    layer = get_channel_layer()
    assert layer._get_layer().channels == {}, "this test needs a loop the layer has not seen"
    first = await layer.new_channel("test.")
    await layer.send(first, {"type": "test.message", "n": 1})
    assert (await asyncio.wait_for(layer.receive(first), 3))["n"] == 1
