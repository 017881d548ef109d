"""Revoked access ends at once on every path, and even when the revoking event is lost.

In process, through the real ASGI stack and a real Redis channel layer; tests/test_revocation_cluster.py
runs the same paths on two real nodes.
"""

import io

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db.models import F
from django.test import Client

from chat.domain import accounts, rooms, services
from chat.models import Membership, Message, Room
from chat.realtime import events, groups
from tests.conftest import Socket, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

db = database_sync_to_async


def login_cookie(user, *, backend: str = "django.contrib.auth.backends.ModelBackend") -> tuple[str, str]:
    """A fresh login session of `user`: (cookie header, session key)."""
    client = Client()
    client.force_login(user, backend=backend)
    key = client.cookies["sessionid"].value
    return f"sessionid={key}", key


async def connect(cookie: str) -> Socket:
    connected, sock = await open_socket(cookie=cookie)
    assert connected
    return sock


async def closed_with(sock: Socket, timeout: float = 5) -> int:
    """Wait for the server to close the socket (frames before it are skipped); its close code."""
    while True:
        output = await sock.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            return output["code"]


async def assert_open(sock: Socket) -> None:
    await sock.send({"type": "ping"})
    assert await sock.recv_type("pong")


async def subscribe(sock: Socket, slug: str) -> None:
    await sock.send({"type": "subscribe", "room": slug})
    await sock.recv_type("presence")


# --- events: every path that ends a session closes its sockets at once ----------------------
# With no repair tick during these tests, so that only the event can close the sockets.


@pytest.fixture
def no_repair_tick(settings):
    settings.CHAT_REPAIR_INTERVAL = 60


async def test_deactivating_a_user_closes_every_socket_of_theirs_with_4401(no_repair_tick, alice, bob):
    first, second = (
        await connect((await db(login_cookie)(alice))[0]),
        await connect((await db(login_cookie)(alice))[0]),
    )
    other = await connect((await db(login_cookie)(bob))[0])
    alice.is_active = False
    await db(alice.save)()
    assert await closed_with(first) == 4401
    assert await closed_with(second) == 4401
    await assert_open(other)
    await other.close()


@pytest.mark.parametrize("save", ["full save", "update_fields"])
async def test_changing_the_password_closes_every_socket_of_the_user_with_4401(
    no_repair_tick, alice, bob, save
):
    sock = await connect((await db(login_cookie)(alice))[0])
    other = await connect((await db(login_cookie)(bob))[0])
    alice.set_password("a new password")
    await db(alice.save)(**({"update_fields": ["password"]} if save == "update_fields" else {}))
    assert await closed_with(sock) == 4401
    await assert_open(other)
    await other.close()


async def test_the_changepassword_command_closes_the_users_sockets_with_4401(
    no_repair_tick, alice, monkeypatch
):
    from django.core.management import call_command

    sock = await connect((await db(login_cookie)(alice))[0])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-brand-new-horse-battery-5")
    await db(call_command)("changepassword", "alice", stdout=io.StringIO())
    assert await closed_with(sock) == 4401


async def test_a_save_that_keeps_the_password_and_the_active_flag_closes_nothing(alice):
    sock = await connect((await db(login_cookie)(alice))[0])
    alice.first_name = "Alice"
    await db(alice.save)()
    await db(alice.save)(update_fields=["last_login"])  # what every login does
    alice.is_active = True
    await db(alice.save)(update_fields=["is_active"])
    assert await sock.nothing(1.0)  # past three repair ticks
    await assert_open(sock)
    await sock.close()


async def test_deleting_a_user_closes_their_sockets_with_4401(no_repair_tick, alice):
    sock = await connect((await db(login_cookie)(alice))[0])
    await db(alice.delete)()
    assert await closed_with(sock) == 4401


async def test_the_session_delete_service_closes_that_sessions_sockets_only(no_repair_tick, alice):
    cookie, key = await db(login_cookie)(alice)
    sock = await connect(cookie)
    other = await connect((await db(login_cookie)(alice))[0])
    await db(accounts.session_delete)(session_key=key)
    assert await closed_with(sock) == 4401
    assert not await db(Session.objects.filter(session_key=key).exists)()
    await assert_open(other)
    await other.close()


# --- the socket's own authentication ----------------------------------------------------------


async def test_a_session_whose_auth_hash_no_longer_matches_is_refused_and_left_alone(alice):
    cookie, key = await db(login_cookie)(alice)
    await db(type(alice).objects.filter(pk=alice.pk).update)(password="changed-behind-our-back")
    sock = await connect(cookie)
    assert await closed_with(sock) == 4401
    # Read-only: the socket does not delete the session (channels' get_user would flush it).
    assert await db(Session.objects.filter(session_key=key).exists)()


async def test_an_inactive_user_is_refused_even_by_a_backend_that_lets_inactive_users_in(alice, settings):
    backend = "django.contrib.auth.backends.AllowAllUsersModelBackend"
    settings.AUTHENTICATION_BACKENDS = [backend]
    cookie, _ = await db(login_cookie)(alice, backend=backend)
    await db(type(alice).objects.filter(pk=alice.pk).update)(is_active=False)
    sock = await connect(cookie)
    assert await closed_with(sock) == 4401


async def test_a_session_signed_with_a_fallback_secret_key_still_opens_a_socket(alice, settings):
    cookie, key = await db(login_cookie)(alice)
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old_secret]
    sock = await connect(cookie)  # as Django accepts it over HTTP
    await assert_open(sock)
    await sock.close()
    settings.SECRET_KEY_FALLBACKS = []
    sock = await connect(cookie)  # once the old key is dropped, no more
    assert await closed_with(sock) == 4401


async def test_a_session_with_no_auth_hash_is_refused(alice):
    cookie, key = await db(login_cookie)(alice)

    def drop_hash() -> None:
        store = SessionStore(key)
        del store[HASH_SESSION_KEY]
        store.save()

    await db(drop_hash)()
    sock = await connect(cookie)
    assert await closed_with(sock) == 4401


# --- the repair tick: a lost event is made good within a tick ---------------------------------
# Changes made with QuerySet.update() or delete(), which send no signal: the test's way to lose
# the event.


async def test_a_user_deactivated_without_an_event_is_closed_by_the_repair_tick(alice, bob):
    sock = await connect((await db(login_cookie)(alice))[0])
    other = await connect((await db(login_cookie)(bob))[0])
    await db(type(alice).objects.filter(pk=alice.pk).update)(is_active=False)
    assert await closed_with(sock, timeout=5) == 4401
    await assert_open(other)
    await other.close()


async def test_a_password_changed_without_an_event_is_caught_by_the_repair_tick(alice):
    sock = await connect((await db(login_cookie)(alice))[0])
    await db(type(alice).objects.filter(pk=alice.pk).update)(password="md5$changed$elsewhere")
    assert await closed_with(sock, timeout=5) == 4401


async def test_a_session_deleted_without_an_event_is_closed_by_the_repair_tick(alice):
    cookie, key = await db(login_cookie)(alice)
    sock = await connect(cookie)
    other = await connect((await db(login_cookie)(alice))[0])
    await db(Session.objects.filter(session_key=key).delete)()
    assert await closed_with(sock, timeout=5) == 4401
    await assert_open(other)
    await other.close()


async def test_a_membership_removed_without_an_event_ends_the_subscription_within_a_tick(alice, bob):
    secret = await db(rooms.room_create)(creator=alice, title="Secret", is_private=True)
    await db(rooms.room_member_add)(room_slug=secret.slug, actor=None, username=bob.username, as_admin=True)
    public = await db(rooms.room_create)(creator=alice, title="Open")
    b = await connect((await db(login_cookie)(bob))[0])
    await subscribe(b, "secret")
    await subscribe(b, "open")
    await db(Membership.objects.filter(room=secret, user=bob).delete)()
    assert await b.recv_type("unsubscribed") == {
        "type": "unsubscribed",
        "room": "secret",
        "reason": "forbidden",
    }
    assert await b.recv() == {"type": "room.removed", "room": "secret"}
    await db(services.message_create)(room=secret, author=alice, body="after", client_msg_id="s1")
    await db(services.message_create)(room=public, author=alice, body="still here", client_msg_id="p1")
    got = await b.recv_type("message")
    assert (got["room"], got["body"]) == ("open", "still here")  # the public room goes on
    assert await b.nothing(1.0)  # three ticks: nothing of the private room, live or repaired
    await b.close()


async def test_with_more_connections_than_a_tick_checks_each_is_checked_in_turn(make_user, monkeypatch):
    from chat.protocol import repair

    monkeypatch.setattr(repair, "CHECK_BATCH", 1)  # one connection per tick (0.3 s in the tests)
    users = [await db(make_user)(f"user{i}") for i in range(3)]
    socks = [await connect((await db(login_cookie)(user))[0]) for user in users]
    await db(type(users[0]).objects.filter(pk__in=[u.pk for u in users]).update)(is_active=False)
    codes = [await closed_with(sock, timeout=5) for sock in socks]  # within about three ticks
    assert codes == [4401, 4401, 4401]


# --- every database fill checks access ------------------------------------------------------


def store_without_broadcast(room: Room, author, body: str) -> int:
    """A committed message whose broadcast is lost (as when its node died after COMMIT)."""
    Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)
    seq = Room.objects.get(pk=room.pk).last_seq
    Message.objects.create(room=room, seq=seq, author=author, body=body, client_msg_id=f"lost-{seq}")
    return seq


@pytest.mark.parametrize("fill", ["gap fill", "repair head"])
async def test_a_fill_from_the_database_sends_nothing_to_a_user_who_lost_access(alice, bob, settings, fill):
    settings.CHAT_REPAIR_INTERVAL = 60  # no tick during the test: only the fill itself may decide
    secret = await db(rooms.room_create)(creator=alice, title="Secret", is_private=True)
    await db(rooms.room_member_add)(room_slug=secret.slug, actor=None, username=bob.username, as_admin=True)
    b = await connect((await db(login_cookie)(bob))[0])
    await subscribe(b, "secret")
    await db(Membership.objects.filter(room=secret, user=bob).delete)()  # its event is lost
    seq = await db(store_without_broadcast)(secret, alice, "not for bob")
    layer = get_channel_layer()
    if fill == "gap fill":
        # The next message arrives live: the lost one is a gap, filled from the database.
        text = events.encode({"type": "message", "room": "secret", "seq": seq + 1, "body": "held"})
        event = {"type": "chat.message", "room_id": secret.pk, "seq": seq + 1, "text": text}
    else:
        event = {"type": "chat.room_head", "room_id": secret.pk, "last_seq": seq}
    await layer.group_send_local(groups.room_group(secret.pk), event)
    frames = await b.drain(quiet=1.0)
    assert [f["type"] for f in frames] == ["unsubscribed", "room.removed"], frames
    assert frames[0]["reason"] == "forbidden"
    await b.close()
