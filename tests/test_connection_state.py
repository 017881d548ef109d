"""What a /ws/ connection costs the node and Redis besides its groups: no channel of its own in
Redis, no per-connection queue (chat/transports/websocket.py, chat/realtime/layer.py)."""

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _redis_channels() -> set[str]:
    client = redis.Redis.from_url(settings.REDIS.urls[0])
    try:
        return {name.decode() for name in client.pubsub_channels()}
    finally:
        client.close()


async def test_a_socket_subscribes_its_groups_in_redis_but_no_channel_of_its_own(alice, room, socket_for):
    sock = await socket_for(alice)
    await sock.send({"type": "subscribe", "room": room.slug})
    await sock.recv_type("presence")
    channels = _redis_channels()
    assert any(name.endswith(f"chat.room.{room.pk}") for name in channels)
    assert any(name.endswith(f"chat.user.{alice.pk}") for name in channels)
    assert not [name for name in channels if "specific." in name]


async def test_an_idle_socket_holds_no_queue_and_frees_its_channel(alice, room, socket_for):
    layer = get_channel_layer()._get_layer()
    before = set(layer.channels)
    sock = await socket_for(alice)
    await sock.send({"type": "subscribe", "room": room.slug})
    await sock.recv_type("presence")
    # The socket's channel (the process's one users-batch receiver may have joined with the first socket).
    [channel] = {name for name in set(layer.channels) - before if "users-batch." not in name}
    assert layer.channels[channel].qsize() == 0 and not hasattr(layer.channels[channel], "get")
    assert channel in layer.direct
    await sock.close()
    assert channel not in layer.channels and channel not in layer.direct
