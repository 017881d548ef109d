"""What an uploaded file is, whatever it is uploaded for (a message's attachment, an avatar): its size
within a limit, its type decided from its content, and, for an image, its pixels decoded safely.

The rules every upload shares live here once; chat/domain/attachments.py and chat/domain/profiles.py
decide what they then keep of the file.
"""

import re
import warnings
from collections.abc import Collection

import puremagic
from django.conf import settings
from django.core.files.base import File
from PIL import Image, UnidentifiedImageError

from chat.domain.errors import UnsupportedType, UploadTooLarge

# Images shown inline (and re-encoded): formats browsers render as images and never as documents.
INLINE_IMAGES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
SNIFF_BYTES = 64 * 1024


def upload_check_size(upload: File, *, max_bytes: int) -> int:
    """The upload's size; raises UploadTooLarge over `max_bytes`, UnsupportedType when empty."""
    size = upload.size
    if size > max_bytes:
        raise UploadTooLarge(f"The file has {size} bytes; the limit is {max_bytes}.")
    if size == 0:
        raise UnsupportedType("The file is empty.")
    return size


def upload_detect_type(upload: File, *, accepted: Collection[str]) -> str:
    """The upload's type from its first bytes; raises UnsupportedType unless it is in `accepted`.
    The client's file name and Content-Type are never consulted."""
    upload.seek(0)
    content_type = detect_type(upload.read(SNIFF_BYTES))
    if content_type not in accepted:
        raise UnsupportedType(f"Files of type {content_type or 'unknown'} are not accepted.")
    return content_type


def detect_type(head: bytes) -> str | None:
    """The type of a file from its first bytes (puremagic), text/plain for UTF-8 text that no
    signature matches, None when unknown."""
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        matches = []
    if matches:
        best = max(matches, key=lambda m: m.confidence)
        return best.mime_type or None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The first bytes may end inside a character.
        try:
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if "\x00" in text or re.search(r"<\s*(html|svg|script|!doctype|\?xml)", text[:1024], re.IGNORECASE):
        return None  # markup no signature named (SVG included): not plain text
    return "text/plain"


def image_decode(source: File, content_type: str, *, draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image of one of INLINE_IMAGES' types, refusing (UnsupportedType) a decompression
    bomb, more than CHAT_UPLOAD_MAX_PIXELS pixels (read from the header, before decoding), content
    that is not of `content_type`, and anything Pillow cannot decode.

    `draft`: a JPEG may be decoded at a reduced scale no smaller than this (much less memory and
    time when only a small picture is kept). The image is loaded (its first frame if animated).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            source.seek(0)
            image = Image.open(source)
            width, height = image.size
            if width * height > settings.CHAT_UPLOAD_MAX_PIXELS:
                raise UnsupportedType(
                    f"The image is {width}x{height} pixels; at most {settings.CHAT_UPLOAD_MAX_PIXELS} are accepted."
                )
            if image.format != INLINE_IMAGES.get(content_type):
                raise UnsupportedType("The image's content does not match its type.")
            if draft is not None and image.format == "JPEG":
                image.draft("RGB", draft)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UnsupportedType("The image is too large when decoded.") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise UnsupportedType(f"The image could not be decoded ({exc.__class__.__name__}).") from None
    return image
