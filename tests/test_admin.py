"""The Django admin goes through the services, so connected clients see its changes live."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat.domain import rooms, services
from chat.models import Membership, Message, Room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

db = database_sync_to_async


@pytest.fixture
def admin_client(make_user):
    admin = make_user("admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


async def test_admin_archive_action_reaches_connected_clients(admin_client, alice, socket_for):
    room = await db(rooms.room_create)(creator=alice, title="General")
    sock = await socket_for(alice)
    response = await db(admin_client.post)(
        "/admin/chat/room/", {"action": "archive_rooms", "_selected_action": [room.pk]}
    )
    assert response.status_code == 302
    frame = await sock.recv_type("room.archived")
    assert frame["room"]["slug"] == "general" and frame["room"]["archived"] is True
    assert (await db(Room.objects.get)(pk=room.pk)).is_archived


async def test_admin_delete_blanks_the_message_and_tells_subscribers(admin_client, alice, socket_for):
    room = await db(rooms.room_create)(creator=alice, title="General")
    message, _ = await db(services.message_create)(room=room, author=alice, body="bad", client_msg_id="x")
    sock = await socket_for(alice)
    await sock.send({"type": "subscribe", "room": "general"})
    await sock.recv_type("history")
    response = await db(admin_client.post)(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    changed = await sock.recv_type("message.changed")
    assert (changed["room"], changed["seq"], changed["change"]) == ("general", 2, "deleted")
    assert changed["message"]["id"] == message.pk and changed["message"]["deleted"] is True
    stored = await db(Message.objects.get)(pk=message.pk)
    assert stored.body == "" and stored.is_deleted


async def test_admin_removing_a_member_ends_their_subscription(admin_client, alice, make_user, socket_for):
    bob = await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, title="Secret", is_private=True)
    await db(rooms.room_member_add)(room_slug=room.slug, actor=None, username=bob.username, as_admin=True)
    sock = await socket_for(bob)
    await sock.send({"type": "subscribe", "room": "secret"})
    await sock.recv_type("subscribed")
    memberships = await db(lambda: list(Membership.objects.filter(room=room).order_by("pk")))()
    form = {
        "title": "Secret", "slug": "secret", "description": "", "is_private": "on",
        "creator": alice.pk,
        "memberships-TOTAL_FORMS": str(len(memberships)), "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, membership in enumerate(memberships):
        form[f"memberships-{i}-id"] = membership.pk
        form[f"memberships-{i}-room"] = room.pk
        form[f"memberships-{i}-user"] = membership.user_id
        form[f"memberships-{i}-role"] = membership.role
        if membership.user_id == bob.pk:
            form[f"memberships-{i}-DELETE"] = "on"
    response = await db(admin_client.post)(f"/admin/chat/room/{room.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    assert (await sock.recv_type("unsubscribed"))["reason"] == "forbidden"
    assert not await db(Membership.objects.filter(room=room, user=bob).exists)()


async def test_admin_creates_a_room_that_appears_in_lobbies(admin_client, alice, socket_for):
    sock = await socket_for(alice)
    response = await db(admin_client.post)(
        "/admin/chat/room/add/",
        {
            "title": "From admin", "slug": "from-admin", "description": "", "creator": "",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    assert (await sock.recv_type("room.created"))["room"]["slug"] == "from-admin"


async def test_admin_search_and_filters_render(admin_client, alice):
    room = await db(rooms.room_create)(creator=alice, title="General")
    await db(services.message_create)(room=room, author=alice, body="findme", client_msg_id="f")
    for url in (
        "/admin/chat/room/?q=gen&is_private__exact=0",
        "/admin/chat/message/?q=findme",
        f"/admin/chat/room/{room.pk}/change/",
    ):
        response = await db(admin_client.get)(url)
        assert response.status_code == 200, url
    assert b"findme" in (await db(admin_client.get)("/admin/chat/message/?q=findme")).content


async def test_admin_lists_files_searchable_by_name_filterable_by_type_with_uploader_and_room(make_user):
    await db(_admin_lists_files)(make_user)


def _admin_lists_files(make_user) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chat.domain import attachments
    from tests.test_attachments import png, send_with

    admin_user = make_user("admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    alice = make_user("alice")
    room = rooms.room_create(creator=alice, title="Secret files", is_private=True)
    notes = attachments.attachment_upload(
        uploader=alice, upload=SimpleUploadedFile("minutes.txt", b"the minutes"), name="minutes.txt"
    )
    photo = attachments.attachment_upload(
        uploader=alice, upload=SimpleUploadedFile("cat.png", png()), name="cat.png"
    )
    message = send_with(room, alice, [notes.pk], body="notes attached")

    listing = client.get("/admin/chat/attachment/").content.decode()
    assert "minutes.txt" in listing and "cat.png" in listing
    assert "secret-files" in listing and "alice" in listing and "(not sent)" in listing
    assert f"/admin/chat/message/{message.pk}/change/" in listing
    found = client.get("/admin/chat/attachment/?q=minutes").content.decode()
    assert "minutes.txt" in found and "cat.png" not in found
    images = client.get("/admin/chat/attachment/?content_type=image/png").content.decode()
    assert "cat.png" in images and "minutes.txt" not in images
    detail = client.get(f"/admin/chat/attachment/{photo.pk}/change/")
    assert detail.status_code == 200 and b"cat.png" in detail.content
    # Read-only: no add, change or delete (a file goes with its message).
    assert client.get("/admin/chat/attachment/add/").status_code == 403
    assert client.post(f"/admin/chat/attachment/{photo.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/chat/message/{message.pk}/change/").content.decode().count("minutes.txt") >= 1
    # Staff without the model's view permission see nothing.
    staff = make_user("staff", is_staff=True)
    other = Client()
    other.force_login(staff)
    assert other.get("/admin/chat/attachment/").status_code == 403
