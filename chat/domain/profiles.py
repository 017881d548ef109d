"""Writes of users' profiles: display name, status text, time zone, avatar. Each change is checked,
stored (the profile row is made on a user's first write), and announced after commit as a
`user.updated` frame, once, to every node (chat/protocol/handlers/users.py says who receives it).

Reads (the `users` objects, an avatar by its key) are in chat/domain/profile_selectors.py.
"""

import io
import logging
import secrets
import unicodedata
import zoneinfo
from functools import cache, partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

from chat.domain import profile_selectors, uploads
from chat.domain.errors import UnsupportedType
from chat.models import Profile
from chat.realtime import events, groups

logger = logging.getLogger(__name__)

DISPLAY_NAME_MAX = Profile._meta.get_field("display_name").max_length
STATUS_TEXT_MAX = Profile._meta.get_field("status_text").max_length
# Format characters that are allowed: joiners (emoji sequences, Persian and Indic scripts) and the
# tags of subdivision flags. Every other control or format character (bidi overrides that reorder
# what follows them, zero-width spaces, line separators) is refused.
_ALLOWED_FORMAT = {"\u200c", "\u200d"} | {chr(c) for c in range(0xE0020, 0xE0080)}
# Pasted text's tabs and line breaks: allowed, and made spaces.
_ALLOWED_CONTROL = {"\t", "\n", "\r"}
_UNSET = object()


# --- checks --------------------------------------------------------------------------------------


def profile_clean_text(value: object, *, field: str, max_length: int) -> str:
    """A display name or status text: NFC, white space collapsed (tab and line breaks included), no
    other control or format character, at most `max_length` characters; raises
    ValidationError({field: ...})."""
    if not isinstance(value, str):
        raise ValidationError({field: _("Enter text.")})
    text = unicodedata.normalize("NFC", value)
    for char in text:
        category = unicodedata.category(char)
        if char not in _ALLOWED_CONTROL and (
            (category[0] == "C" and category != "Cn" and char not in _ALLOWED_FORMAT)
            or category in ("Zl", "Zp")
        ):
            raise ValidationError({field: _("Control and invisible formatting characters are not allowed.")})
    text = " ".join(text.split())  # tabs and line breaks (pasted text) become spaces
    if len(text) > max_length:
        raise ValidationError(
            {
                field: _("At most %(max)d characters (this has %(length)d).")
                % {"max": max_length, "length": len(text)}
            }
        )
    return text


@cache  # the zone names of this process's tz database: fixed while it runs
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name zoneinfo knows."""
    return frozenset(zoneinfo.available_timezones())


def profile_clean_time_zone(value: object) -> str:
    """An IANA time zone name, or "" (not said); raises ValidationError({"time_zone": ...})."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or value not in time_zone_names():
        raise ValidationError(
            {"time_zone": _("Choose a time zone from the list (an IANA name such as Asia/Seoul).")}
        )
    return value


# --- profile fields ----------------------------------------------------------------------------


def profile_update(
    *,
    user: AbstractBaseUser,
    display_name: object = _UNSET,
    status_text: object = _UNSET,
    time_zone: object = _UNSET,
) -> Profile:
    """Change the given fields of the user's profile (others stay) and announce `user.updated`.
    Raises ValidationError (a dict by field) and stores nothing when a value is refused."""
    return profile_save(user=user, display_name=display_name, status_text=status_text, time_zone=time_zone)


def profile_save(
    *,
    user: AbstractBaseUser,
    display_name: object = _UNSET,
    status_text: object = _UNSET,
    time_zone: object = _UNSET,
    avatar: File | None = None,
    remove_avatar: bool = False,
) -> Profile:
    """Change any of the profile's fields and its picture (a new `avatar` upload, or
    `remove_avatar`) in one transaction, announced once. Every value is checked before anything is
    stored: raises ValidationError (a dict by field), or UploadTooLarge / UnsupportedType for the
    picture, and then nothing changed."""
    changes: dict[str, str] = {}
    if display_name is not _UNSET:
        changes["display_name"] = profile_clean_text(
            display_name, field="display_name", max_length=DISPLAY_NAME_MAX
        )
    if status_text is not _UNSET:
        changes["status_text"] = profile_clean_text(
            status_text, field="status_text", max_length=STATUS_TEXT_MAX
        )
    if time_zone is not _UNSET:
        changes["time_zone"] = profile_clean_time_zone(time_zone)
    if avatar is None:
        if remove_avatar:
            changes["avatar_key"] = ""
        return _apply(user=user, changes=changes)
    files = _avatar_squares(avatar)
    key = secrets.token_urlsafe(18)  # 24 characters
    written = _avatar_store(key, files)
    try:
        return _apply(user=user, changes={**changes, "avatar_key": key})
    except BaseException:
        _delete_avatar_files(written)
        raise


def profile_get_for_update(*, user: AbstractBaseUser) -> Profile:
    """The user's profile, locked for this transaction, made if it does not exist yet (a race with
    another node's first write ends in one row: get_or_create retries the read)."""
    profile, _created = Profile.objects.select_for_update().get_or_create(user=user)
    return profile


@transaction.atomic
def _apply(*, user: AbstractBaseUser, changes: dict[str, str]) -> Profile:
    profile = profile_get_for_update(user=user)
    changes = {name: value for name, value in changes.items() if getattr(profile, name) != value}
    if not changes:
        return profile
    old_key = profile.avatar_key if "avatar_key" in changes else ""
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.updated_at = timezone.now()
    profile.full_clean(exclude=["user"])
    profile.save(update_fields=[*changes, "updated_at"])
    if old_key:  # after commit: a rolled-back change keeps the old files
        names = [profile_selectors.avatar_path(old_key, size) for size in settings.CHAT_AVATAR_SIZES]
        transaction.on_commit(partial(_delete_avatar_files, names), robust=True)
    _announce(user=user, profile=profile)
    return profile


# --- avatar -----------------------------------------------------------------------------------------


def _avatar_files(image: Image.Image) -> dict[int, bytes]:
    """The avatar's squares (CHAT_AVATAR_SIZES), centre-cropped, as WebP: decoded pixels only, so
    nothing of the upload but its picture survives (no EXIF, no other frames, no trailing bytes)."""
    upright = ImageOps.exif_transpose(image)
    if upright.mode not in ("RGB", "RGBA"):
        upright = upright.convert(
            "RGBA" if "A" in upright.getbands() or "transparency" in upright.info else "RGB"
        )
    files = {}
    for size in settings.CHAT_AVATAR_SIZES:
        square = ImageOps.fit(upright, (size, size), method=Image.Resampling.LANCZOS)
        out = io.BytesIO()
        square.save(out, format="WEBP", quality=85, method=4)
        files[size] = out.getvalue()
    return files


def _avatar_squares(upload: File) -> dict[int, bytes]:
    """Check an uploaded image (the upload rules of chat/domain/uploads.py, with the avatar's own
    size limit; PNG, JPEG, GIF or WebP only) and make its squares; raises UploadTooLarge or
    UnsupportedType."""
    uploads.upload_check_size(upload, max_bytes=settings.CHAT_AVATAR_MAX_BYTES)
    accepted = [t for t in settings.CHAT_UPLOAD_TYPES if t in uploads.INLINE_IMAGES]
    content_type = uploads.upload_detect_type(upload, accepted=accepted)
    largest = max(settings.CHAT_AVATAR_SIZES)
    image = uploads.image_decode(upload, content_type, draft=(largest, largest))
    try:
        return _avatar_files(image)
    except (OSError, ValueError) as exc:  # a mode Pillow cannot convert or encode
        raise UnsupportedType(f"The image could not be converted ({exc.__class__.__name__}).") from None


def _avatar_store(key: str, files: dict[int, bytes]) -> list[str]:
    """Write the squares under `key`; returns their storage names (none left behind on failure)."""
    storage = profile_selectors.avatar_storage()
    written: list[str] = []
    try:
        for size, data in files.items():
            name = profile_selectors.avatar_path(key, size)
            written.append(storage.save(name, ContentFile(data)))
            if written[-1] != name:  # a storage that renamed it: the URL would not find it
                raise RuntimeError(f"the storage stored {name} as {written[-1]}")
    except BaseException:
        _delete_avatar_files(written)
        raise
    return written


def profile_set_avatar(*, user: AbstractBaseUser, upload: File) -> Profile:
    """A new picture for the user (profile_save's rules), announced."""
    return profile_save(user=user, avatar=upload)


def profile_remove_avatar(*, user: AbstractBaseUser) -> Profile:
    """Remove the user's picture (clients then draw the initials), announced."""
    return profile_save(user=user, remove_avatar=True)


def profile_deleted(*, profile: Profile) -> None:
    """A profile row is being deleted (its user was): delete its picture's files after commit."""
    if profile.avatar_key:
        names = [
            profile_selectors.avatar_path(profile.avatar_key, size) for size in settings.CHAT_AVATAR_SIZES
        ]
        transaction.on_commit(partial(_delete_avatar_files, names), robust=True)


def _delete_avatar_files(names: list[str]) -> None:
    storage = profile_selectors.avatar_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # a file left behind is harmless: no profile names its key any more
            logger.warning("could not delete avatar file %s", name, exc_info=True)


# --- notify ----------------------------------------------------------------------------------------


def _announce(*, user: AbstractBaseUser, profile: Profile) -> None:
    """After commit, one `chat.user_updated` event to the lobby group (every connection, every
    node), its frame encoded once; each connection forwards it only if it fetched this user."""
    if not user.is_active:
        return  # a deactivated user is absent from `users` answers: nobody is told
    frame = {"type": "user.updated", "user": profile_selectors.user_dict(user=user, profile=profile)}
    event = {"type": "chat.user_updated", "user_id": user.pk, "text": events.encode(frame)}
    transaction.on_commit(partial(events.publish, groups.LOBBY_GROUP, event), robust=True)
