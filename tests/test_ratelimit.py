"""The per-user rate limit, counted in the database inside the send's transaction."""

import asyncio

import pytest
from channels.db import database_sync_to_async as db

from chat.domain import batching, services
from chat.domain.errors import RateLimited
from chat.models import Message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _send(room, author, tag: str) -> services.MessageRequest:
    return services.MessageRequest(room_slug=room.slug, author=author, body=tag, client_msg_id=tag)


async def test_a_burst_stores_exactly_the_limit_and_refuses_the_rest(alice, bob, room, settings):
    # Concurrent sends share group-commit batches; the count sees the batch's own earlier sends.
    settings.CHAT_RATE_LIMIT_MESSAGES = 50
    settings.CHAT_RATE_LIMIT_WINDOW = 60
    outcomes = await asyncio.gather(
        *(batching.store_message(_send(room, alice, f"b{i}")) for i in range(300)), return_exceptions=True
    )
    assert sum(isinstance(o, tuple) for o in outcomes) == 50
    assert all(isinstance(o, tuple | RateLimited) for o in outcomes), {type(o) for o in outcomes}
    assert await db(Message.objects.filter(author=alice).count)() == 50
    # The limit is the author's: someone else still sends, and the refused sends took no seq.
    message, created = await batching.store_message(_send(room, bob, "other"))
    assert created and message.seq == 51


async def test_the_window_slides_and_a_refused_send_stores_nothing(alice, room, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW = 1
    for tag in ("one", "two"):
        await batching.store_message(_send(room, alice, tag))
    with pytest.raises(RateLimited):
        await batching.store_message(_send(room, alice, "three"))
    # Time passing is what this test is about: a full window from now, both stored sends are
    # older than the window (a tenth of a second more for the clock's rounding).
    await asyncio.sleep(settings.CHAT_RATE_LIMIT_WINDOW + 0.1)
    message, created = await batching.store_message(_send(room, alice, "four"))
    assert created and message.seq == 3
    stored = await db(lambda: list(Message.objects.order_by("seq").values_list("body", flat=True)))()
    assert stored == ["one", "two", "four"]


async def test_a_retry_of_a_stored_message_is_acked_even_at_the_limit(alice, room, settings):
    # A client that lost the ack resends; the message is stored, so it gets the ack, not an error.
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW = 60
    first, _ = await batching.store_message(_send(room, alice, "first"))
    await batching.store_message(_send(room, alice, "second"))
    again, created = await batching.store_message(_send(room, alice, "first"))
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(RateLimited):
        await batching.store_message(_send(room, alice, "third"))
