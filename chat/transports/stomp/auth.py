"""CONNECT's credentials: login/passcode (Django's authenticate(), throttled by django-axes as the web
login is) or `Authorization: Bearer <API token>` (failures throttled per address in Redis).

axes needs a request: it reads the client's address (config/client_address.py, which believes
X-Forwarded-For only from TRUSTED_PROXIES), user agent and path from it, and records failures in the
shared database. The STOMP handshake's scope gives the same fields, so a login over STOMP counts
against the same limits as one on /accounts/login/.
"""

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from chat.domain import accounts, selectors
from chat.models import ApiToken
from chat.realtime import throttle
from config.client_address import client_address

BEARER = "Bearer "


def _request(meta: dict[str, str]) -> HttpRequest:
    request = HttpRequest()
    request.META.update(meta)
    request.path = request.path_info = meta.get("PATH_INFO", "")
    request.method = "POST"
    return request


def login(*, meta: dict[str, str], username: str, password: str):
    """The user these credentials identify, or None (wrong, inactive, or throttled: axes refuses
    a locked-out login before the password is checked)."""
    request = _request(meta)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return None
    return user


def _token_authenticate(secret: str) -> ApiToken | None:
    token = selectors.api_token_authenticate(secret=secret)
    if token is not None:
        accounts.api_token_used(token=token)
    return token


async def bearer(*, meta: dict[str, str], authorization: str) -> ApiToken | None:
    """The live API token of an `Authorization: Bearer <token>` header, or None (not Bearer, malformed,
    unknown, revoked, its user inactive, or this address failed LOGIN_FAILURE_LIMIT_PER_ADDRESS times
    (at least LOGIN_FAILURE_LIMIT) until LOGIN_COOLOFF seconds passed without a failure: refused
    before the token is looked up)."""
    address = str(client_address(_request(meta)) or meta.get("REMOTE_ADDR", ""))
    limit = max(settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS, settings.LOGIN_FAILURE_LIMIT)
    if await throttle.failures_exceeded(scope="bearer", value=address, limit=limit):
        return None
    token = None
    if authorization.startswith(BEARER):
        token = await database_sync_to_async(_token_authenticate)(authorization[len(BEARER) :].strip())
    if token is None:
        await throttle.failure_record(scope="bearer", value=address, window=settings.LOGIN_COOLOFF)
    return token
