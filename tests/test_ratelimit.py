"""The per-user rate limit, counted in the database inside the send's transaction."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.db import transaction
from django.utils import timezone

from chat.domain import batching, queries, services
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


def _backdate(author, ages: list[float]) -> None:
    """Give the author's messages, oldest first, these ages in seconds (created_at = now - age)."""
    now = timezone.now()
    messages = list(Message.objects.filter(author=author).order_by("seq"))
    assert len(messages) == len(ages)
    for message, age in zip(messages, ages, strict=True):
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(seconds=age))


async def test_a_refusal_says_when_the_oldest_counted_message_leaves_the_window(alice, room, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    settings.CHAT_RATE_LIMIT_WINDOW = 60
    for i in range(5):  # more than the limit (trusted senders are not limited)
        await db(services.message_create)(room=room, author=alice, body=f"m{i}", client_msg_id=f"m{i}")
    # Counted: the 3 newest (40, 30 and 20 s old); the 40 s old one leaves the window in 20 s.
    await db(_backdate)(alice, [70, 50, 40, 30, 20])
    with pytest.raises(RateLimited) as refused:
        await batching.store_message(_send(room, alice, "next"))
    assert 19.5 < refused.value.retry_after <= 20.001
    assert refused.value.frame_fields() == {"retry_after": refused.value.retry_after}
    assert "20.0 s" in refused.value.detail


async def test_a_send_after_retry_after_is_stored(alice, room, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW = 2
    for tag in ("one", "two"):
        await batching.store_message(_send(room, alice, tag))
    with pytest.raises(RateLimited) as refused:
        await batching.store_message(_send(room, alice, "three"))
    assert 0 < refused.value.retry_after <= 2
    await asyncio.sleep(refused.value.retry_after)  # the wait the server named, and no longer
    message, created = await batching.store_message(_send(room, alice, "three"))
    assert created and message.seq == 3


async def test_a_send_under_the_limit_has_no_wait(alice, room, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    settings.CHAT_RATE_LIMIT_WINDOW = 60
    for i in range(2):
        await batching.store_message(_send(room, alice, f"u{i}"))
    assert await db(_rate_wait_in_transaction)(alice) is None
    await batching.store_message(_send(room, alice, "u2"))
    assert 59 < await db(_rate_wait_in_transaction)(alice) <= 60


def _rate_wait_in_transaction(author):
    with transaction.atomic():
        return queries.author_rate_wait(author)
