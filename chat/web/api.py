"""HTTP API for clients: search (and uploads). Decode, call one selector or service, encode JSON."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from chat.domain import search
from chat.domain.errors import ChatError, InvalidField, RateLimited, SearchTimedOut
from chat.protocol import searching


def error_response(error: ChatError, status: int) -> JsonResponse:
    """The JSON error body every API endpoint answers with: {code, detail}."""
    return JsonResponse({"code": error.code, "detail": error.detail}, status=status)


def not_authenticated() -> JsonResponse:
    return JsonResponse({"code": "not_authenticated", "detail": "Log in first."}, status=401)


def _bool_param(value: str | None, name: str) -> bool | None:
    if value in (None, ""):
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise InvalidField(f"{name} must be true or false.")


@require_GET
async def search_view(request: HttpRequest) -> JsonResponse:
    """`GET /api/search?q=&room=&author=&after=&before=&has_file=&order=&cursor=` ->
    `{results, next}`; 400 {code, detail} for a refused query or filter, 429 past the user's search
    rate (with Retry-After), 503 `search_timeout`. Async: the search runs on the node's search threads
    as a socket's does (chat/protocol/searching.py)."""
    user = await request.auser()
    if not user.is_authenticated:
        return not_authenticated()
    params = request.GET
    try:
        limit = params.get("limit")
        if limit is not None and not (limit.isdigit() and len(limit) < 4):
            raise InvalidField("limit must be an integer.")
        page = await searching.messages_search(
            user=user,
            query=params.get("q", ""),
            room=params.get("room") or None,
            author=params.get("author") or None,
            before=search.search_datetime(params.get("before"), "before", end_of_day=True),
            after=search.search_datetime(params.get("after"), "after"),
            has_file=_bool_param(params.get("has_file"), "has_file"),
            order=params.get("order") or "newest",
            limit=int(limit) if limit else None,
            cursor=params.get("cursor") or None,
        )
    except RateLimited as error:
        response = JsonResponse(
            {"code": error.code, "detail": error.detail, **error.frame_fields()}, status=429
        )
        response["Retry-After"] = str(int(error.retry_after or 1))
        return response
    except SearchTimedOut as error:
        return error_response(error, 503)
    except ChatError as error:
        return error_response(error, 400)
    return JsonResponse({"results": page.results, "next": page.next})
