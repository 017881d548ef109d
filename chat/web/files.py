"""HTTP adapters for files: upload (POST /api/uploads/) and serving (GET /files/<id>/...).

Serving checks, on every request and on whichever node it lands, that the user may read the file's
room; everyone else gets the same 404 (a file's existence is not disclosed). User content is served
so that a browser never runs it: nosniff, a sandboxing CSP, and as a download unless it is an image.
"""

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from chat.domain import attachments
from chat.domain.errors import ChatError, QuotaExceeded, UnsupportedType, UploadTooLarge
from chat.web.api import error_response, not_authenticated

STATUS = {UploadTooLarge: 413, QuotaExceeded: 413, UnsupportedType: 415}


@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    """`POST /api/uploads/` (multipart field `file`, CSRF token in X-CSRFToken) -> 201 {id, name,
    size, content_type, url, thumbnail_url?}; 413 or 415 {code, detail}."""
    if not request.user.is_authenticated:
        return not_authenticated()
    # Refuse an oversized body from its declared length before parsing it. The nodes' server
    # (config/server.py) already refused it before reading it; this holds under any other server.
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > settings.CHAT_REQUEST_MAX_BYTES:
        return error_response(UploadTooLarge(f"The limit is {settings.CHAT_UPLOAD_MAX_BYTES} bytes."), 413)
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse(
            {"code": "invalid_field", "detail": "Send the file in the field `file`."}, status=400
        )
    try:
        attachment = attachments.attachment_upload(
            uploader=request.user, upload=upload, name=upload.name or ""
        )
    except ChatError as error:
        return error_response(error, STATUS.get(type(error), 400))
    return JsonResponse(attachments.attachment_dict(attachment), status=201)


def _serve(request: HttpRequest, attachment_id: int, *, thumbnail: bool) -> FileResponse:
    attachment = attachments.attachment_get_readable(attachment_id=attachment_id, user=request.user)
    if attachment is None or (thumbnail and not attachment.thumbnail):
        raise Http404("No such file.")
    stored = attachment.thumbnail if thumbnail else attachment.file
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("No such file.") from None
    inline = thumbnail or attachment.content_type in attachments.INLINE_IMAGES
    content_type = "image/png" if thumbnail else attachment.content_type
    if content_type == "text/plain":
        content_type = "text/plain; charset=utf-8"
    response = FileResponse(
        handle, as_attachment=not inline, filename=attachment.name, content_type=content_type
    )
    # Revalidated on every use: a revoked reader's old link must stop working.
    return user_content_headers(response, cache_control="private, no-cache")


def user_content_headers(response: HttpResponse, *, cache_control: str) -> HttpResponse:
    """The headers of every file a user uploaded (attachments, avatars), so that a browser never
    runs it: no sniffing, and were it rendered as a document after all, no script, no plugin, no
    same origin."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = cache_control
    return response


@require_GET
def attachment(request: HttpRequest, attachment_id: int, name: str) -> FileResponse:
    """A file, to those who may read its room (the name in the URL is only for the browser)."""
    return _serve(request, attachment_id, thumbnail=False)


@require_GET
def attachment_thumbnail(request: HttpRequest, attachment_id: int) -> FileResponse:
    """An image's thumbnail (PNG), to those who may read its room."""
    return _serve(request, attachment_id, thumbnail=True)
