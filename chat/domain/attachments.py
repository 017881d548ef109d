"""Attachments: upload (check the size, the quota and the type by content; images re-encoded without
EXIF and thumbnailed), attach to a message being sent, delete with their message, sweep orphans.

check -> store -> record, as the services do (the quota checked again, exactly, as the record is
written: `_lock_uploader`). Files go through Django's storage API
(models.attachment_storage), so every node reads what any node wrote. Who may read a file is the
room's rule (selectors.room_can_read), checked by `attachment_get_readable` on every request.
"""

import io
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.db import connection, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from PIL import ImageOps

from chat.domain import selectors, uploads
from chat.domain.errors import InvalidAttachment, QuotaExceeded, UnsupportedType
from chat.domain.uploads import INLINE_IMAGES
from chat.models import Attachment, Message

logger = logging.getLogger(__name__)

# --- checks ------------------------------------------------------------------------------


def sanitize_name(name: str) -> str:
    """A display name: the base name, without control or path characters, at most 150 characters."""
    name = unicodedata.normalize("NFC", os.path.basename(str(name).replace("\\", "/")))
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r'[<>:"/|?*]', "_", name).strip(" .") or "file"
    stem, dot, extension = name.rpartition(".")
    if len(name) > 150:
        name = (stem[: 140 - len(extension)] + "." + extension[:9]) if dot else name[:150]
    return name


# The first key of the uploaders' advisory locks (PostgreSQL's two-key form), apart from the authors'
# of chat/domain/queries.py, so an upload never waits for its uploader's sends.
UPLOADER_LOCK_NAMESPACE = 0x66696C65  # "file"


def _lock_uploader(uploader: AbstractBaseUser) -> None:
    """Serialize this uploader's quota checks, on every node, until the transaction ends.

    Under PostgreSQL's READ COMMITTED two uploads each summed the other's absence and both were
    stored past the quota; with the lock the second sums after the first's commit. The id is folded
    to the lock's 32-bit key (two uploaders sharing a key only wait for each other). SQLite needs
    nothing: a write transaction holds the database's write lock from BEGIN (chat/sqlite/base.py).
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [UPLOADER_LOCK_NAMESPACE, uploader.pk % 2**31])


def _check_quota(uploader: AbstractBaseUser, size: int) -> None:
    used = Attachment.objects.filter(uploader=uploader).aggregate(total=Sum("size"))["total"] or 0
    if used + size > settings.CHAT_UPLOAD_QUOTA_BYTES:
        raise QuotaExceeded(
            f"You store {used} bytes of files; this one ({size}) would pass your quota "
            f"of {settings.CHAT_UPLOAD_QUOTA_BYTES}."
        )


@dataclass
class _Image:
    data: bytes
    thumbnail: bytes
    thumbnail_type: str
    width: int
    height: int


def _process_image(source: File, content_type: str) -> _Image:
    """Decode the image (refusing decompression bombs), re-encode it without its metadata (EXIF: the
    camera, the place), and make a thumbnail. A file that does not decode is refused."""
    image = uploads.image_decode(source, content_type)
    width, height = image.size
    if getattr(image, "is_animated", False):
        data = _reencode_animation(image, content_type)
        image.seek(0)
    else:
        upright = ImageOps.exif_transpose(image)
        out = io.BytesIO()
        upright.save(out, format=INLINE_IMAGES[content_type], **_save_options(content_type))
        data, image, (width, height) = out.getvalue(), upright, upright.size
    thumb = image.copy()
    thumb.thumbnail((settings.CHAT_THUMBNAIL_SIZE, settings.CHAT_THUMBNAIL_SIZE))
    if thumb.mode not in ("RGB", "RGBA"):
        thumb = thumb.convert("RGBA")
    out = io.BytesIO()
    thumb.save(out, format="PNG", optimize=True)
    return _Image(data=data, thumbnail=out.getvalue(), thumbnail_type="image/png", width=width, height=height)


def _reencode_animation(image, content_type: str) -> bytes:
    """An animated GIF or WebP, every frame re-encoded with its timing and loop count and nothing
    else: WebP's EXIF and XMP chunks and GIF's comments and application blocks are not written.
    Re-encoding costs time and memory per pixel of every frame, so an animation of more than
    CHAT_UPLOAD_MAX_ANIMATION_PIXELS pixels over all its frames is refused, as is one whose later
    frames do not decode (a truncated file)."""
    width, height = image.size
    total = width * height * image.n_frames
    if total > settings.CHAT_UPLOAD_MAX_ANIMATION_PIXELS:
        raise UnsupportedType(
            f"The animation has {image.n_frames} frames of {width}x{height} pixels; at most "
            f"{settings.CHAT_UPLOAD_MAX_ANIMATION_PIXELS} pixels over all frames are accepted."
        )
    try:
        durations = []  # each frame's own (Pillow's writers otherwise give every frame the first's)
        for index in range(image.n_frames):
            image.seek(index)
            image.load()
            durations.append(image.info.get("duration", 100))
        options = {"save_all": True, "duration": durations}
        if "loop" in image.info:  # a GIF without one plays once
            options["loop"] = image.info["loop"]
        if content_type == "image/webp":
            options.update(exif=b"", xmp=b"", quality=90)
        else:
            # Pillow hands over each frame fully drawn; clearing before the next keeps what turned
            # transparent transparent (a frame drawn over the last would leave a trail).
            options["disposal"] = 2
        image.seek(0)
        for key in ("comment", "extension", "xmp", "exif", "icc_profile"):
            image.info.pop(key, None)
        out = io.BytesIO()
        image.save(out, format=INLINE_IMAGES[content_type], **options)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedType(f"The animation could not be decoded ({exc.__class__.__name__}).") from None
    return out.getvalue()


def _save_options(content_type: str) -> dict:
    if content_type == "image/jpeg":
        return {"quality": 90, "optimize": True}
    if content_type == "image/webp":
        return {"quality": 90}
    return {}


# --- upload --------------------------------------------------------------------------------------


def attachment_upload(*, uploader: AbstractBaseUser, upload: File, name: str) -> Attachment:
    """Check and store an upload; raises UploadTooLarge, QuotaExceeded or UnsupportedType."""
    size = uploads.upload_check_size(upload, max_bytes=settings.CHAT_UPLOAD_MAX_BYTES)
    _check_quota(uploader, size)
    content_type = uploads.upload_detect_type(upload, accepted=settings.CHAT_UPLOAD_TYPES)
    storage = Attachment._meta.get_field("file").storage
    key = f"attachments/{secrets.token_urlsafe(18)}"
    attachment = Attachment(uploader=uploader, name=sanitize_name(name), content_type=content_type)
    written: list[str] = []
    try:
        if content_type in INLINE_IMAGES:
            image = _process_image(upload, content_type)
            attachment.file.name = storage.save(key, ContentFile(image.data))
            written.append(attachment.file.name)
            attachment.thumbnail.name = storage.save(key + ".thumb", ContentFile(image.thumbnail))
            written.append(attachment.thumbnail.name)
            attachment.size, attachment.width, attachment.height = len(image.data), image.width, image.height
        else:
            upload.seek(0)
            attachment.file.name = storage.save(key, upload)
            written.append(attachment.file.name)
            attachment.size = size
        attachment.full_clean(exclude=["uploader", "file", "thumbnail"])
        # Checked again, exactly, with the stored size and the uploader's lock, in the transaction
        # that records the file: the check above only spares the work of a file that cannot fit.
        with transaction.atomic():
            _lock_uploader(uploader)
            _check_quota(uploader, attachment.size)
            attachment.save(force_insert=True)
    except BaseException:
        _delete_files(written)
        raise
    return attachment


# --- sending and deleting -------------------------------------------------------------------------


def attachments_validate(value: object) -> tuple[int, ...]:
    """The `attachments` of a send: a list of at most CHAT_ATTACHMENTS_PER_MESSAGE distinct ids."""
    if value is None:
        return ()
    limit = settings.CHAT_ATTACHMENTS_PER_MESSAGE
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidAttachment(f"attachments must be a list of at most {limit} distinct upload ids.")
    return tuple(value)


def attachments_attach(*, message: Message, ids: Iterable[int]) -> list[Attachment]:
    """Inside a send's transaction: give the message the author's unsent uploads, or refuse the send."""
    ids = list(ids)
    if not ids:
        return []
    claimed = Attachment.objects.filter(pk__in=ids, uploader=message.author, message__isnull=True).update(
        message=message
    )
    if claimed != len(ids):
        raise InvalidAttachment()
    return list(Attachment.objects.filter(message=message).order_by("pk"))


def attachments_drop(*, message: Message) -> None:
    """Inside a deletion's transaction: forget the message's files, and delete them after commit
    (a rolled-back deletion keeps them)."""
    files = [
        name
        for pair in Attachment.objects.filter(message=message).values_list("file", "thumbnail")
        for name in pair
        if name
    ]
    if files:
        Attachment.objects.filter(message=message).delete()
        transaction.on_commit(partial(_delete_files, files), robust=True)


def attachments_sweep(*, older_than: timedelta) -> int:
    """Delete uploads never sent and older than `older_than`; returns how many."""
    cutoff = timezone.now() - older_than
    count = 0
    while True:
        batch = list(
            Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff).values_list(
                "pk", "file", "thumbnail"
            )[:500]
        )
        if not batch:
            return count
        with transaction.atomic():
            Attachment.objects.filter(pk__in=[pk for pk, _, _ in batch], message__isnull=True).delete()
        _delete_files([name for _, *names in batch for name in names if name])
        count += len(batch)


def _delete_files(names: Iterable[str]) -> None:
    storage = Attachment._meta.get_field("file").storage
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # a file left behind is harmless; the row is gone, so nobody can fetch it
            logger.warning("could not delete attachment file %s", name, exc_info=True)


# --- reading ------------------------------------------------------------------------------------------


def attachment_get_readable(*, attachment_id: int, user: AbstractBaseUser) -> Attachment | None:
    """The attachment if the user may read it: its room's readers once sent (and not deleted), only
    its uploader before. None otherwise, whatever the reason (the caller answers 404)."""
    if not (user.is_authenticated and user.is_active):
        return None
    attachment = Attachment.objects.select_related("message__room").filter(pk=attachment_id).first()
    if attachment is None:
        return None
    message = attachment.message
    if message is None:
        return attachment if attachment.uploader_id == user.pk else None
    if message.is_deleted or not selectors.room_can_read(room=message.room, user=user):
        return None
    return attachment


def attachment_dict(attachment: Attachment) -> dict:
    """An attachment as message frames and the upload answer carry it."""
    data = {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": reverse("attachment", args=[attachment.pk, attachment.name]),
    }
    if attachment.thumbnail:
        data["thumbnail_url"] = reverse("attachment-thumbnail", args=[attachment.pk])
        data["width"], data["height"] = attachment.width, attachment.height
    return data


def message_attachments(*, message_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Each message's attachments, as dicts, in upload order (one query)."""
    ids = list(message_ids)
    if not ids:
        return {}
    result: dict[int, list[dict]] = {}
    for attachment in Attachment.objects.filter(message_id__in=ids).order_by("pk"):
        result.setdefault(attachment.message_id, []).append(attachment_dict(attachment))
    return result
