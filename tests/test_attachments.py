"""Attachments: upload checks (size, quota, type by content, images), sending, serving, deleting, sweeping."""

import io
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from PIL import Image

from chat.domain import attachments, message_changes, rooms, selectors, services
from chat.domain.errors import InvalidAttachment
from chat.models import Attachment

pytestmark = pytest.mark.django_db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def png(width=64, height=48, exif: bool = False, fmt="PNG") -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        image.save(out, format="JPEG", exif=data)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def client_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the CSRF cookie
    return client


def upload(client: Client, name: str, data: bytes, content_type="application/octet-stream"):
    token = client.cookies["csrftoken"].value
    return client.post(
        "/api/uploads/",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        headers={"X-CSRFToken": token},
    )


def test_an_image_is_stored_without_exif_with_a_thumbnail_and_served_inline(alice, room):
    client = client_for(alice)
    answer = upload(client, "holiday.jpg", png(800, 600, exif=True))
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert (data["content_type"], data["width"], data["height"]) == ("image/jpeg", 800, 600)
    served = client.get(data["url"])
    body = b"".join(served.streaming_content)
    assert b"SecretCam" not in body and Image.open(io.BytesIO(body)).getexif().get(0x010F) is None
    assert served["X-Content-Type-Options"] == "nosniff" and "sandbox" in served["Content-Security-Policy"]
    assert not served["Content-Disposition"].startswith("attachment")
    thumb = client.get(data["thumbnail_url"])
    assert max(Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size) <= 400


def test_a_file_is_refused_by_content_not_by_name(alice):
    client = client_for(alice)
    for name, data in [
        ("cat.png", SVG),
        ("cat.png", HTML),
        ("notes.txt", HTML),
        ("x.png", b"\x00\x01\x02garbage"),
    ]:
        answer = upload(client, name, data, content_type="image/png")
        assert answer.status_code == 415 and answer.json()["code"] == "unsupported_type", name
    assert upload(client, "report.bin", b"%PDF-1.4\n%...").json()["content_type"] == "application/pdf"
    # A PNG signature on something that is no PNG does not pass as an image.
    assert upload(client, "fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100).status_code == 415
    assert Attachment.objects.count() == 1


def test_plain_text_with_markup_is_served_as_a_download_that_never_renders(alice, room):
    client = client_for(alice)
    data = upload(client, "readme.html", b"hello <b>there</b> and <img src=x onerror=alert(1)>").json()
    served = client.get(data["url"])
    assert served["Content-Type"] == "text/plain; charset=utf-8"
    assert (
        served["Content-Disposition"].startswith("attachment")
        and served["X-Content-Type-Options"] == "nosniff"
    )


def test_a_decompression_bomb_is_refused(alice, settings):
    settings.CHAT_UPLOAD_MAX_PIXELS = 10_000_000
    bomb = png(5_000, 5_000)  # 25 megapixels in about 75 KB
    answer = upload(client_for(alice), "bomb.png", bomb)
    assert answer.status_code == 415 and "pixels" in answer.json()["detail"]
    assert Attachment.objects.count() == 0


def animation(fmt: str, frames: int = 3, size=(32, 24)) -> bytes:
    """An animation with a comment, EXIF and XMP that name a secret place."""
    images = [Image.new("RGB", size, (40 * i, 90, 200 - 40 * i)) for i in range(frames)]
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    options = {"save_all": True, "append_images": images[1:], "duration": [70, 120, 90][:frames], "loop": 2}
    if fmt == "GIF":
        options["comment"] = b"SecretPlace"
    else:
        options.update(exif=exif.tobytes(), xmp=b"<x:xmpmeta>SecretPlace</x:xmpmeta>", lossless=True)
    images[0].save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_an_animation_keeps_its_frames_and_timing_and_loses_its_metadata(alice, fmt):
    client = client_for(alice)
    source = animation(fmt)
    assert b"Secret" in source  # the metadata is there to lose
    answer = upload(client, f"dance.{fmt.lower()}", source)
    assert answer.status_code == 201, answer.content
    body = b"".join(client.get(answer.json()["url"]).streaming_content)
    assert b"SecretCam" not in body and b"SecretPlace" not in body
    stored = Image.open(io.BytesIO(body))
    assert stored.format == fmt and stored.n_frames == 3 and stored.info.get("loop") == 2
    durations = []
    for index in range(stored.n_frames):
        stored.seek(index)
        stored.load()  # WebP sets a frame's duration as it decodes it
        durations.append(stored.info["duration"])
    assert durations == [70, 120, 90]


def test_a_transparent_animation_keeps_its_transparency_frame_by_frame(alice):
    """A sticker: a red square on a transparent ground in frame 0, gone in the frames after (disposal 2
    in the source). Each stored frame must show what the source frame shows, with no trail."""
    frames = []
    for i in range(3):
        frame = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
        if i == 0:
            frame.paste((255, 0, 0, 255), (0, 0, 8, 8))
        else:  # and a different spot each frame (identical frames would be merged)
            frame.paste((0, 0, 255, 255), (8, 8, 16, 16) if i == 1 else (8, 0, 16, 8))
        frames.append(frame)
    source = io.BytesIO()
    frames[0].save(
        source, format="GIF", save_all=True, append_images=frames[1:], duration=100, disposal=2, loop=0
    )
    client = client_for(alice)
    answer = upload(client, "sticker.gif", source.getvalue())
    assert answer.status_code == 201, answer.content
    stored = Image.open(io.BytesIO(b"".join(client.get(answer.json()["url"]).streaming_content)))
    original = Image.open(io.BytesIO(source.getvalue()))
    assert stored.n_frames == original.n_frames >= 2
    for index in range(original.n_frames):
        stored.seek(index)
        original.seek(index)
        assert stored.convert("RGBA").getpixel((2, 2)) == original.convert("RGBA").getpixel((2, 2)), index
        assert stored.convert("RGBA").getpixel((12, 12)) == original.convert("RGBA").getpixel((12, 12)), index


def test_a_truncated_animation_is_refused_not_a_server_error(alice):
    whole = animation("GIF", frames=3, size=(64, 48))
    answer = upload(client_for(alice), "cut.gif", whole[: len(whole) - 40])
    assert answer.status_code == 415 and answer.json()["code"] == "unsupported_type", answer.content
    assert Attachment.objects.count() == 0


def test_an_animation_too_long_to_re_encode_is_refused(alice, settings):
    settings.CHAT_UPLOAD_MAX_ANIMATION_PIXELS = 32 * 24 * 2
    answer = upload(client_for(alice), "long.gif", animation("GIF"))
    assert answer.status_code == 415 and "frames" in answer.json()["detail"]
    assert Attachment.objects.count() == 0


def test_size_limit_and_quota_give_413_and_store_nothing(alice, settings, tmp_path):
    settings.CHAT_UPLOAD_MAX_BYTES = 1000
    client = client_for(alice)
    answer = upload(client, "big.txt", b"a" * 1001)
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    settings.CHAT_UPLOAD_MAX_BYTES = 10_000
    settings.CHAT_UPLOAD_QUOTA_BYTES = 2500
    assert upload(client, "a.txt", b"a" * 1000).status_code == 201
    assert upload(client, "b.txt", b"b" * 1000).status_code == 201
    answer = upload(client, "c.txt", b"c" * 1000)
    assert answer.status_code == 413 and answer.json()["code"] == "quota_exceeded"
    assert Attachment.objects.count() == 2


def test_upload_needs_login_and_csrf(alice):
    assert Client().post("/api/uploads/", {"file": SimpleUploadedFile("a.txt", b"hi")}).status_code == 401
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/api/uploads/", {"file": SimpleUploadedFile("a.txt", b"hi")}).status_code == 403


def send_with(room, author, ids, body="", cid="m1"):
    request = services.MessageRequest(
        room_slug=room.slug, author=author, body=body, client_msg_id=cid, attachments=tuple(ids)
    )
    [result] = services.messages_create_batch([request])
    if isinstance(result, Exception):
        raise result
    return result[0]


def test_a_message_carries_its_own_unsent_uploads_only(alice, bob, room):
    mine = [upload(client_for(alice), f"{i}.txt", b"text %d" % i).json()["id"] for i in range(2)]
    theirs = upload(client_for(bob), "b.txt", b"bob's").json()["id"]
    with pytest.raises(InvalidAttachment):
        send_with(room, alice, [mine[0], theirs])
    message = send_with(room, alice, mine)
    assert [a["id"] for a in attachments.message_attachments(message_ids=[message.pk])[message.pk]] == mine
    with pytest.raises(InvalidAttachment):
        send_with(room, alice, [mine[0]], cid="m2")  # already sent
    with pytest.raises(InvalidAttachment):
        attachments.attachments_validate(list(range(1, 12)))


def test_files_of_a_private_room_are_404_to_outsiders_removed_members_and_strangers(alice, bob, make_user):
    secret = rooms.room_create(creator=alice, title="Secret", is_private=True)
    rooms.room_member_add(room_slug=secret.slug, actor=None, username=bob.username, as_admin=True)
    data = upload(client_for(alice), "plan.png", png()).json()
    assert client_for(bob).get(data["url"]).status_code == 404  # not sent yet: only the uploader
    send_with(secret, alice, [data["id"]], body="the plan")
    assert client_for(bob).get(data["url"]).status_code == 200
    outsider = client_for(make_user("carol"))
    for url in (data["url"], data["thumbnail_url"], f"/files/{data['id']}/other-name.png"):
        assert outsider.get(url).status_code == 404
        assert Client().get(url).status_code == 404
    rooms.room_member_remove(room_slug=secret.slug, actor=None, username=bob.username, as_admin=True)
    assert client_for(bob).get(data["url"]).status_code == 404
    assert client_for(bob).get(data["thumbnail_url"]).status_code == 404


def test_deleting_the_message_deletes_its_files(alice, room, django_capture_on_commit_callbacks):
    data = upload(client_for(alice), "x.png", png()).json()
    message = send_with(room, alice, [data["id"]])
    stored = Attachment.objects.get(pk=data["id"])
    storage, names = stored.file.storage, [stored.file.name, stored.thumbnail.name]
    assert all(storage.exists(n) for n in names)
    frame = json.loads(json.dumps(selectors.messages_before(room=room, before_seq=None, limit=5)[0][0].pk))
    assert frame == message.pk
    with django_capture_on_commit_callbacks(execute=True):
        message_changes.message_remove(room_slug=room.slug, message_id=message.pk, user=alice)
    assert not any(storage.exists(n) for n in names)
    assert client_for(alice).get(data["url"]).status_code == 404


def test_orphaned_uploads_are_swept_after_the_grace_period(alice, room):
    old = upload(client_for(alice), "old.txt", b"old").json()["id"]
    fresh = upload(client_for(alice), "new.txt", b"new").json()["id"]
    sent = upload(client_for(alice), "sent.txt", b"sent").json()["id"]
    send_with(room, alice, [sent])
    Attachment.objects.filter(pk__in=[old, sent]).update(
        created_at=Attachment.objects.get(pk=old).created_at - timedelta(hours=30)
    )
    name = Attachment.objects.get(pk=old).file.name
    out = io.StringIO()
    call_command("chat_sweep_uploads", "--hours", "24", stdout=out)
    assert "1 orphaned" in out.getvalue()
    assert set(Attachment.objects.values_list("pk", flat=True)) == {fresh, sent}
    assert not Attachment._meta.get_field("file").storage.exists(name)


def test_names_are_sanitized():
    assert attachments.sanitize_name("../../etc/passwd") == "passwd"
    assert attachments.sanitize_name('a\x00b<script>"x".txt') == "ab_script__x_.txt"
    assert attachments.sanitize_name("...") == "file"
    assert len(attachments.sanitize_name("x" * 400 + ".png")) <= 150


def test_search_filters_messages_with_files(alice, room):
    data = upload(client_for(alice), "x.txt", b"hello").json()
    send_with(room, alice, [data["id"]], body="pelican with file")
    services.message_create(room=room, author=alice, body="pelican without", client_msg_id="n1")
    with_file = selectors.messages_search(user=alice, query="pelican", has_file=True).results
    without = selectors.messages_search(user=alice, query="pelican", has_file=False).results
    assert [r["body"] for r in with_file] == ["pelican with file"]
    assert [r["body"] for r in without] == ["pelican without"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uploads_cannot_both_pass_the_quota(alice, settings, monkeypatch):
    """Both uploads pass the early quota check before either is recorded (a barrier in the
    storage write holds them there); the check under the uploader's lock lets exactly one in."""
    import threading

    from django.db import connection

    settings.CHAT_UPLOAD_QUOTA_BYTES = 1500
    storage = Attachment._meta.get_field("file").storage
    both_checked = threading.Barrier(2, timeout=20)
    save = storage.save

    def save_after_both_checked(name, content, *args, **kwargs):
        both_checked.wait()
        return save(name, content, *args, **kwargs)

    monkeypatch.setattr(storage, "save", save_after_both_checked)
    before = set(storage.listdir("attachments")[1]) if storage.exists("attachments") else set()
    outcomes: list[object] = []

    def upload_one(i: int) -> None:
        try:
            outcomes.append(
                attachments.attachment_upload(
                    uploader=alice, upload=SimpleUploadedFile(f"{i}.txt", b"x" * 1000), name=f"{i}.txt"
                )
            )
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload_one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(type(o).__name__ for o in outcomes) == ["Attachment", "QuotaExceeded"], outcomes
    assert Attachment.objects.filter(uploader=alice).count() == 1
    # The refused upload's file was removed from storage: only the stored one's file is there.
    stored = Attachment.objects.get(uploader=alice)
    assert set(storage.listdir("attachments")[1]) - before == {stored.file.name.split("/")[-1]}
