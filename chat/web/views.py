"""HTTP adapters: pages of the web UI. Reads go through selectors, writes through services."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from chat.domain import accounts, room_info, rooms, selectors
from chat.domain.errors import TooManyRooms, UnknownRoom
from chat.models import Room
from chat.web.forms import ApiTokenCreateForm, RoomCreateForm, SignUpForm


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in."""
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # axes' is first
        return redirect("lobby")
    return render(request, "registration/signup.html", {"form": form})


def _app(
    request: HttpRequest, *, active=None, form: RoomCreateForm | None = None, status: int | None = None
) -> HttpResponse:
    visible = list(selectors.rooms_visible_to(user=request.user))
    # A DM is shown by the other members' names (set on these instances for display, never saved).
    dms = [listed for listed in visible if listed.kind == Room.Kind.DM]
    titles = {
        frame["slug"]: frame["title"] for frame in room_info.room_objects_for(rooms=dms, user=request.user)
    }
    for listed in dms:
        listed.title = titles[listed.slug]
    if active is not None and active.slug in titles:
        active.title = titles[active.slug]
    context = {
        "rooms": [listed for listed in visible if listed.kind != Room.Kind.DM],
        "dms": dms,
        "dm_max_others": settings.CHAT_DM_MAX_MEMBERS - 1,
        "upload_max_bytes": settings.CHAT_UPLOAD_MAX_BYTES,
        "members_refresh_ms": round(settings.CHAT_MEMBERS_REFRESH * 1000),
        "active": active,
        "form": form or RoomCreateForm(),
    }
    return render(request, "chat/app.html", context, status=status or (400 if form and form.errors else 200))


@login_required
@require_http_methods(["GET", "POST"])
def lobby(request: HttpRequest) -> HttpResponse:
    """The app with no room open: the rooms the user may enter, and a form to create one."""
    if request.method == "POST":
        form = RoomCreateForm(request.POST)
        if form.is_valid():
            try:
                room = rooms.room_create(creator=request.user, **form.cleaned_data)
            except TooManyRooms:
                form.add_error(None, _("You have created too many rooms recently; try again later."))
                return _app(request, form=form, status=429)
            return redirect("room", slug=room.slug)
        return _app(request, form=form)
    return _app(request)


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    """The app with one room (or DM) open; messages arrive over the /ws/ socket."""
    try:
        found = selectors.room_get_readable(slug=slug, user=request.user)
    except UnknownRoom:  # also a room the user may not read: the same 404, no existence oracle
        raise Http404("No such room.") from None
    return _app(request, active=found)


@login_required
def dm(request: HttpRequest, slug: str) -> HttpResponse:
    """The app with a direct-message conversation open (the same page as a room's); 404 for anyone
    not in it, and for a slug that is not a DM's."""
    try:
        found = selectors.room_get_readable(slug=slug, user=request.user)
    except UnknownRoom:
        raise Http404("No such conversation.") from None
    if found.kind != Room.Kind.DM:
        raise Http404("No such conversation.")
    return _app(request, active=found)


@never_cache  # the page that shows a new secret must not be kept by a browser or proxy
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens: list, create (the secret is shown this once), revoke."""
    form = ApiTokenCreateForm(request.POST or None)
    secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _token, secret = accounts.api_token_create(user=request.user, name=form.cleaned_data["name"])
            form = ApiTokenCreateForm()
        else:
            status = 400
    context = {"tokens": selectors.api_tokens_of(user=request.user), "form": form, "secret": secret}
    return render(request, "chat/api_tokens.html", context, status=status)


@login_required
@require_http_methods(["POST"])
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens (another user's is a 404)."""
    token = selectors.api_token_get(user=request.user, token_id=token_id)
    if token is None:
        raise Http404("No such token.")
    accounts.api_token_revoke(token=token)
    return redirect("api-tokens")


@login_required
def stomp_demo(request: HttpRequest) -> HttpResponse:
    """The tutorials' minimal STOMP client (docs/stomp.md), in `?room=<slug>` or the public topic."""
    room = None
    if request.GET.get("room"):
        try:
            room = selectors.room_get_readable(slug=request.GET["room"], user=request.user)
        except UnknownRoom:
            raise Http404("No such room.") from None
    return render(request, "chat/stomp_demo.html", {"room": room, "stomp_path": settings.CHAT_STOMP_PATH})
