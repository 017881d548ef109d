"""HTTP adapters for profiles: the profile page (/accounts/profile/) and avatars (/avatars/...).

The page edits the signed-in user's own profile only (no user is named in the form). Avatars are
served to signed-in users from a URL that names a random key and a size, nothing of the user; a new
avatar is a new key, so a square is cached for ever and a removed one stops being served at once.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from chat.domain import profile_selectors, profiles
from chat.domain.errors import ChatError, UploadTooLarge
from chat.web.files import user_content_headers
from chat.web.forms import ProfileForm

# A body larger than the picture's limit by more than its multipart framing is refused unread.
MULTIPART_SLACK = 64 * 1024


def _avatar_error(error: ChatError) -> str:
    if isinstance(error, UploadTooLarge):
        return _("The picture is larger than %(size)s MB; choose a smaller one.") % {
            "size": f"{settings.CHAT_AVATAR_MAX_BYTES / 1024 / 1024:g}"
        }
    return _(
        "This file is not a PNG, JPEG, GIF or WebP picture that can be read, or it has more than "
        "%(pixels)s million pixels."
    ) % {"pixels": f"{settings.CHAT_UPLOAD_MAX_PIXELS / 1_000_000:g}"}


def _page(
    request: HttpRequest, form: ProfileForm, *, status: int = 200, saved: bool = False, error: str = ""
) -> HttpResponse:
    me = profile_selectors.user_dict_of(user=request.user)
    context = {"form": form, "me": me, "saved": saved, "page_error": error}
    return render(request, "chat/profile.html", context, status=status)


def _initial(request: HttpRequest) -> dict:
    profile = profile_selectors.profile_of_user(user=request.user)
    if profile is None:
        return {}
    return {
        "display_name": profile.display_name,
        "status_text": profile.status_text,
        "time_zone": profile.time_zone,
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The signed-in user's profile: display name, status, time zone, picture."""
    if request.method != "POST":
        return _page(request, ProfileForm(initial=_initial(request)), saved=request.GET.get("saved") == "1")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > settings.CHAT_AVATAR_MAX_BYTES + MULTIPART_SLACK:
        # Refused from its declared length, before the body is read.
        form = ProfileForm(initial=_initial(request))
        return _page(request, form, status=413, error=_avatar_error(UploadTooLarge()))
    form = ProfileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        profiles.profile_save(
            user=request.user,
            display_name=data["display_name"],
            status_text=data["status_text"],
            time_zone=data["time_zone"],
            avatar=data["avatar"],
            remove_avatar=data["remove_avatar"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, form, status=400)
    except ChatError as error:  # the picture: too large, or not an image we accept
        form.add_error("avatar", _avatar_error(error))
        return _page(request, form, status=413 if isinstance(error, UploadTooLarge) else 415)
    return redirect(f"{request.path}?saved=1")


@require_GET
def avatar(request: HttpRequest, key: str, size: int) -> FileResponse:
    """An avatar's square (WebP), to signed-in users; 404 for anything else."""
    if not (request.user.is_authenticated and request.user.is_active):
        raise Http404("No such avatar.")
    name = profile_selectors.avatar_get_served(key=key, size=size)
    if name is None:
        raise Http404("No such avatar.")
    try:
        handle = profile_selectors.avatar_storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such avatar.") from None
    response = FileResponse(handle, content_type="image/webp")
    # The URL changes with the picture: a browser keeps it for a year without asking again, and
    # only for this user (`private`: a shared cache must not serve a signed-in-only file).
    return user_content_headers(response, cache_control="private, max-age=31536000, immutable")
