"""Profiles: the rules of chat/domain/profiles.py, the profile page and its upload attacks, avatars,
the `users.fetch` frame and `user.updated` on one process (tests/test_profiles_cluster.py: two nodes)."""

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chat.domain import profile_selectors, profiles
from chat.models import Profile

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def image_bytes(width=300, height=200, fmt="PNG", color=(10, 120, 200), exif=False) -> bytes:
    image = Image.new("RGB", (width, height), color)
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"
        image.save(out, format="JPEG", exif=data)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares these dimensions, with one tiny compressed row: nothing but the
    header is believable, as in a crafted 'huge dimensions' file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def avatar_files() -> set[Path]:
    root = Path(profile_selectors.avatar_storage().location) / "avatars"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def page_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/profile/")  # sets the CSRF cookie
    return client


def post_profile(
    client: Client, *, avatar: bytes | None = None, name="me.png", content_type="image/png", **fields
):
    data = {"display_name": "", "status_text": "", "time_zone": "", **fields}
    if avatar is not None:
        data["avatar"] = SimpleUploadedFile(name, avatar, content_type=content_type)
    return client.post("/accounts/profile/", data, headers={"X-CSRFToken": client.cookies["csrftoken"].value})


# --- rules ---------------------------------------------------------------------------------------


def test_display_name_and_status_are_cleaned_and_bounded(alice):
    profile = profiles.profile_update(
        user=alice, display_name="  Alice\u0301   Kim ", status_text="On\tholiday"
    )
    assert (profile.display_name, profile.status_text) == ("Alic\u00e9 Kim", "On holiday")  # NFC, spaces
    for bad in ["a\x00b", "evil\u202egnp.exe", "zero\u200bwidth", "line\u2028break", "\x7f", "a\x85b"]:
        with pytest.raises(ValidationError) as error:
            profiles.profile_update(user=alice, display_name=bad)
        assert "display_name" in error.value.message_dict
    with pytest.raises(ValidationError):
        profiles.profile_update(user=alice, display_name="x" * 65)
    with pytest.raises(ValidationError):
        profiles.profile_update(user=alice, status_text="x" * 141)
    # Emoji sequences with joiners and a subdivision flag's tags are names too.
    family = "👩‍👩‍👧 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert profiles.profile_update(user=alice, display_name=family).display_name == family
    assert Profile.objects.get(user=alice).display_name == family


def test_time_zone_must_be_an_iana_name(alice):
    assert profiles.profile_update(user=alice, time_zone="Asia/Seoul").time_zone == "Asia/Seoul"
    for bad in ["Mars/Olympus", "../../etc/passwd", "asia/seoul", 5, "Asia/Seoul\n"]:
        with pytest.raises(ValidationError):
            profiles.profile_update(user=alice, time_zone=bad)
    assert profiles.profile_update(user=alice, time_zone="").time_zone == ""


def test_a_user_without_a_profile_shows_the_defaults_and_initials(alice, make_user):
    kim = make_user("kim")
    [(_, user)] = profile_selectors.users_by_username(usernames=["kim"])
    assert user == {
        "username": "kim",
        "display_name": "kim",
        "avatar_url": None,
        "avatar_small_url": None,
        "initials": "K",
        "color": profile_selectors.avatar_color("kim"),
        "status": "",
        "time_zone": None,
    }
    profiles.profile_update(user=kim, display_name="김 철수")
    assert profile_selectors.users_by_username(usernames=["kim"])[0][1]["initials"] == "김철"
    assert profile_selectors.initials("élise") == "É" and profile_selectors.initials("👩‍💻 dev") == "👩‍💻D"


def contrast_with_white(color: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(color[i : i + 2], 16) / 255) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_initials_colours_meet_wcag_aa_with_white_text_and_are_styled():
    css = Path("chat/static/chat/profile.css").read_text()
    for color in profile_selectors.AVATAR_COLORS:
        assert contrast_with_white(color) >= 4.5, color
        assert f'[data-color="{color}"]' in css
    # Stable across processes (a digest, not hash()).
    assert profile_selectors.avatar_color("alice") == profile_selectors.avatar_color("alice")


def test_users_lookup_skips_unknown_and_deactivated_users_in_one_query(
    alice, make_user, django_assert_num_queries
):
    make_user("bob")
    make_user("gone", is_active=False)
    profiles.profile_update(user=alice, display_name="Alice")
    with django_assert_num_queries(1):
        found = profile_selectors.users_by_username(usernames=["bob", "nobody", "gone", "alice", "bob"])
    assert [user["username"] for _, user in found] == ["bob", "alice"]


# --- avatars ---------------------------------------------------------------------------------------


def test_an_avatar_is_two_webp_squares_without_exif_served_from_a_versioned_url(alice, make_user):
    client = page_client(alice)
    answer = post_profile(client, avatar=image_bytes(800, 600, fmt="JPEG", exif=True), name="holiday.jpg")
    assert answer.status_code == 302 and answer["Location"].endswith("?saved=1")
    [(_, me)] = profile_selectors.users_by_username(usernames=["alice"])
    assert re.fullmatch(r"/avatars/[A-Za-z0-9_-]{24}/256\.webp", me["avatar_url"])
    assert me["avatar_small_url"] == me["avatar_url"].replace("/256.webp", "/64.webp")
    assert "alice" not in me["avatar_url"]  # the key and the size, nothing of the user
    bob = make_user("bob")
    viewer = Client()
    viewer.force_login(bob)
    for url, size in ((me["avatar_url"], 256), (me["avatar_small_url"], 64)):
        served = viewer.get(url)
        body = b"".join(served.streaming_content)
        assert served.status_code == 200 and served["Content-Type"] == "image/webp"
        picture = Image.open(io.BytesIO(body))
        assert picture.size == (size, size) and picture.format == "WEBP"
        assert b"SecretCam" not in body and not picture.getexif()
        assert served["Cache-Control"] == "private, max-age=31536000, immutable"
        assert (
            served["X-Content-Type-Options"] == "nosniff" and "sandbox" in served["Content-Security-Policy"]
        )
    # Logged out, another size, a made-up key: 404.
    assert Client().get(me["avatar_url"]).status_code == 404
    assert viewer.get(me["avatar_url"].replace("/256.", "/128.")).status_code == 404
    assert viewer.get("/avatars/AAAAAAAAAAAAAAAAAAAAAAAA/256.webp").status_code == 404
    # A new picture is a new URL; the old one stops being served and its files are deleted.
    old = me["avatar_url"]
    assert post_profile(client, avatar=image_bytes(50, 400, color=(200, 0, 0))).status_code == 302
    [(_, me)] = profile_selectors.users_by_username(usernames=["alice"])
    assert me["avatar_url"] != old and viewer.get(old).status_code == 404
    storage = profile_selectors.avatar_storage()
    old_key = old.split("/")[2]
    assert not storage.exists(f"avatars/{old_key}/256.webp") and not storage.exists(
        f"avatars/{old_key}/64.webp"
    )
    # Removing it: initials again, and a deactivated user's picture is no longer served.
    assert post_profile(client, remove_avatar="on").status_code == 302
    assert profile_selectors.users_by_username(usernames=["alice"])[0][1]["avatar_url"] is None
    assert viewer.get(me["avatar_url"]).status_code == 404
    post_profile(client, avatar=image_bytes())
    url = profile_selectors.users_by_username(usernames=["alice"])[0][1]["avatar_url"]
    alice.is_active = False
    alice.save()
    assert viewer.get(url).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"),
    [
        ("cat.png", SVG, "image/svg+xml", 415),  # SVG with script: no signature, markup refused
        ("cat.png", SVG, "image/png", 415),  # the same, lying about its type
        ("report.pdf", b"%PDF-1.4\n%...", "image/png", 415),  # an accepted attachment, not an image
        ("notes.txt", b"hello there", "image/png", 415),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png", 415),  # a signature and nothing
        ("empty.png", b"", "image/png", 400),  # Django's FileField: "The submitted file is empty."
        ("huge.png", png_header_only(100_000, 100_000), "image/png", 415),  # huge dimensions
        ("looks.gif", image_bytes(fmt="PNG"), "image/gif", 302),  # the content decides: a PNG is fine
    ],
)
def test_avatar_upload_attacks_are_refused_with_a_clear_error_and_store_nothing(
    alice, name, data, content_type, status
):
    client = page_client(alice)
    answer = post_profile(client, avatar=data, name=name, content_type=content_type, display_name="Changed")
    assert answer.status_code == status, answer.content[:300]
    stored = Profile.objects.filter(user=alice).first()
    if status == 302:
        assert stored.avatar_key
        return
    assert stored is None or (not stored.avatar_key and stored.display_name == "")
    assert b"Traceback" not in answer.content
    if status == 415:
        assert "PNG, JPEG, GIF or WebP" in answer.content.decode()


def test_a_decompression_bomb_and_an_oversized_file_are_refused(alice, settings):
    settings.CHAT_UPLOAD_MAX_PIXELS = 10_000_000
    files_before = avatar_files()
    client = page_client(alice)
    answer = post_profile(client, avatar=image_bytes(5_000, 5_000))  # 25 megapixels in ~75 KB
    assert answer.status_code == 415 and "10 million pixels" in answer.content.decode()
    settings.CHAT_AVATAR_MAX_BYTES = 1000
    answer = post_profile(client, avatar=image_bytes(300, 300, fmt="BMP"))  # about 270 KB
    assert answer.status_code == 413 and "larger than" in answer.content.decode()
    assert not Profile.objects.filter(user=alice, avatar_key__gt="").exists()
    assert avatar_files() == files_before


def test_the_page_needs_login_and_csrf_and_edits_only_ones_own_profile(alice, bob):
    assert Client().get("/accounts/profile/").status_code == 302  # to the login page
    answer = Client().post("/accounts/profile/", {"display_name": "x"})
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
    no_csrf = Client(enforce_csrf_checks=True)
    no_csrf.force_login(alice)
    assert no_csrf.post("/accounts/profile/", {"display_name": "x"}).status_code == 403
    # Fields naming another user are ignored: the page edits the signed-in user's profile only.
    client = page_client(alice)
    answer = post_profile(client, display_name="Mallory", user=bob.pk, username="bob", user_id=bob.pk)
    assert answer.status_code == 302
    assert Profile.objects.get(user=alice).display_name == "Mallory"
    assert not Profile.objects.filter(user=bob).exists()
    # Bad values: 400 with the field's error, nothing stored.
    answer = post_profile(client, display_name="a\u202eb", time_zone="Mars/Base")
    assert answer.status_code == 400
    assert Profile.objects.get(user=alice).display_name == "Mallory"


def test_the_page_in_korean(alice):
    client = page_client(alice)
    client.cookies["django_language"] = "ko"
    page = client.get("/accounts/profile/", headers={"accept-language": "ko"})
    assert "프로필" in page.content.decode()


# --- frames ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_users_fetch_answers_known_users_and_malformed_frames_get_invalid_field(
    alice, bob, make_user, socket_for
):
    await db(make_user)("gone", is_active=False)
    await db(profiles.profile_update)(
        user=bob, display_name="Bobby", status_text="lunch", time_zone="Europe/Paris"
    )
    sock = await socket_for(alice)
    await sock.send({"type": "users.fetch", "users": ["bob", "nobody", "gone"], "ref": "u1"})
    answer = await sock.recv_type("users")
    assert answer["ref"] == "u1" and [u["username"] for u in answer["users"]] == ["bob"]
    bobby = answer["users"][0]
    assert (bobby["display_name"], bobby["status"], bobby["time_zone"]) == ("Bobby", "lunch", "Europe/Paris")
    for bad in [
        {"type": "users.fetch"},
        {"type": "users.fetch", "users": []},
        {"type": "users.fetch", "users": "bob"},
        {"type": "users.fetch", "users": [1]},
        {"type": "users.fetch", "users": [""]},
        {"type": "users.fetch", "users": ["x" * 151]},
        {"type": "users.fetch", "users": [f"u{i}" for i in range(101)]},
        {"type": "users.fetch", "users": [None]},
        {"type": "users.fetch", "users": [["bob"]]},
        {"type": "users.fetch", "users": ["\ud800"]},
        {"type": "users.fetch", "users": ["bob\x00"]},
    ]:
        await sock.send(bad)
        error = await sock.recv_type("error")
        assert error["code"] == "invalid_field", bad
    await sock.send({"type": "users.fetch", "users": ["' OR 1=1 --", "%", "bob'"]})
    assert (await sock.recv_type("users"))["users"] == []


@pytest.mark.asyncio
async def test_user_updated_reaches_connections_that_fetched_the_user_only(alice, bob, make_user, socket_for):
    carol = await db(make_user)("carol")
    watcher = await socket_for(alice)
    other = await socket_for(carol)
    await watcher.send({"type": "users.fetch", "users": ["bob"]})
    await watcher.recv_type("users")
    await db(profiles.profile_update)(user=bob, display_name="Bob B.", status_text="back")
    frame = await watcher.recv_type("user.updated")
    assert frame["user"]["username"] == "bob" and frame["user"]["display_name"] == "Bob B."
    # carol never fetched bob: her connection gets nothing before the marker (a pong).
    await other.send({"type": "ping"})
    assert (await other.recv())["type"] == "pong"
    # Nothing changed: nothing announced. A rolled-back change is never announced.
    await db(profiles.profile_update)(user=bob, display_name="Bob B.")
    await watcher.send({"type": "ping"})
    assert (await watcher.recv())["type"] == "pong"


# --- admin --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_admin_shows_profiles_and_its_edits_follow_the_rules_and_are_announced(
    alice, bob, make_user, socket_for
):
    admin_user = await db(make_user)("root", is_staff=True, is_superuser=True)
    admin = Client()
    await db(admin.force_login)(admin_user)
    await db(profiles.profile_update)(user=bob, display_name="Bob", status_text="here")
    listing = await db(admin.get)("/admin/chat/profile/")
    assert listing.status_code == 200 and b"here" in listing.content
    page = await db(admin.get)(f"/admin/auth/user/{bob.pk}/change/")
    assert page.status_code == 200 and b"chat_profile-0-display_name" in page.content
    sock = await socket_for(alice)
    await sock.send({"type": "users.fetch", "users": ["bob"]})
    await sock.recv_type("users")
    form = {"display_name": "Robert", "status_text": "moderated", "time_zone": "Asia/Seoul"}
    answer = await db(admin.post)(f"/admin/chat/profile/{bob.pk}/change/", form)
    assert answer.status_code == 302
    frame = await sock.recv_type("user.updated")
    assert (frame["user"]["display_name"], frame["user"]["time_zone"]) == ("Robert", "Asia/Seoul")
    bad = await db(admin.post)(f"/admin/chat/profile/{bob.pk}/change/", {**form, "display_name": "a\u202eb"})
    assert bad.status_code == 200 and b"errorlist" in bad.content
    assert (await db(Profile.objects.get)(user=bob)).display_name == "Robert"


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def test_pictures_of_every_mode_become_squares_and_an_animation_its_first_frame(alice):
    palette = Image.new("P", (120, 80))
    palette.info["transparency"] = 0
    frames = [Image.new("RGB", (90, 60), color) for color in ((255, 0, 0), (0, 0, 255))]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    cases = {
        "palette with transparency": _encoded(palette, "PNG", transparency=0),
        "grey with alpha": _encoded(Image.new("LA", (50, 70), (128, 200)), "PNG"),
        "CMYK JPEG": _encoded(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG"),
        "16-bit grey": _encoded(Image.new("I;16", (40, 40), 30000), "PNG"),
        "1-bit": _encoded(Image.new("1", (33, 33), 1), "PNG"),
        "WebP": _encoded(Image.new("RGBA", (500, 100), (0, 128, 0, 128)), "WEBP"),
        "animated GIF": animated.getvalue(),
    }
    storage = profile_selectors.avatar_storage()
    for what, data in cases.items():
        profile = profiles.profile_set_avatar(user=alice, upload=SimpleUploadedFile("x", data))
        with storage.open(profile_selectors.avatar_path(profile.avatar_key, 256)) as handle:
            square = Image.open(handle)
            assert (square.format, square.size) == ("WEBP", (256, 256)), what
            assert not getattr(square, "is_animated", False), what
            if what == "animated GIF":
                assert square.convert("RGB").getpixel((128, 128))[0] > 200  # the first (red) frame


@pytest.mark.asyncio
async def test_a_rolled_back_change_is_never_announced(alice, bob, socket_for):
    from django.db import transaction

    watcher = await socket_for(alice)
    await watcher.send({"type": "users.fetch", "users": ["bob"]})
    await watcher.recv_type("users")

    def change_then_fail():
        with transaction.atomic():
            profiles.profile_update(user=bob, display_name="Never")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await db(change_then_fail)()
    await db(profiles.profile_update)(user=bob, display_name="Committed")
    frame = await watcher.recv_type("user.updated")  # the first one to arrive is the committed one
    assert frame["user"]["display_name"] == "Committed"


def test_the_admin_user_page_saves_the_profile_inline_through_the_service(alice, make_user):
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(f"/admin/auth/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions", "last_login")
    }
    data.update(
        {
            "date_joined_0": alice.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": alice.date_joined.strftime("%H:%M:%S"),
            "chat_profile-TOTAL_FORMS": "1",
            "chat_profile-INITIAL_FORMS": "0",
            "chat_profile-MIN_NUM_FORMS": "0",
            "chat_profile-MAX_NUM_FORMS": "1",
            "chat_profile-0-display_name": "Alice (admin)",
            "chat_profile-0-status_text": "",
            "chat_profile-0-time_zone": "Europe/Berlin",
            "chat_profile-0-user": str(alice.pk),
        }
    )
    answer = admin.post(f"/admin/auth/user/{alice.pk}/change/", data)
    assert answer.status_code == 302, answer.context and answer.context["adminform"].form.errors
    profile = Profile.objects.get(user=alice)
    assert (profile.display_name, profile.time_zone) == ("Alice (admin)", "Europe/Berlin")


def test_deleting_a_user_deletes_their_pictures_files(alice):
    profile = profiles.profile_set_avatar(user=alice, upload=SimpleUploadedFile("a.png", image_bytes()))
    storage = profile_selectors.avatar_storage()
    names = [profile_selectors.avatar_path(profile.avatar_key, size) for size in (256, 64)]
    assert all(storage.exists(name) for name in names)
    alice.delete()
    assert not any(storage.exists(name) for name in names)


@pytest.mark.asyncio
async def test_a_connection_that_fetched_too_many_users_gets_every_update(
    alice, bob, make_user, socket_for, settings
):
    settings.CHAT_USERS_WATCH_MAX = 3
    for name in ("u1", "u2", "u3"):
        await db(make_user)(name)
    sock = await socket_for(alice)
    await sock.send({"type": "users.fetch", "users": ["u1", "u2", "u3"]})
    await sock.recv_type("users")
    await db(profiles.profile_update)(
        user=bob, status_text="not fetched, still sent"
    )  # within the cap: not sent
    await sock.send({"type": "ping"})
    assert (await sock.recv())["type"] == "pong"
    await sock.send({"type": "users.fetch", "users": ["alice"]})  # a fourth: past the cap
    await sock.recv_type("users")
    await db(profiles.profile_update)(user=bob, status_text="now every update")
    assert (await sock.recv_type("user.updated"))["user"]["status"] == "now every update"
