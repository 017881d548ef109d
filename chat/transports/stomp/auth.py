"""CONNECT's login/passcode: Django's authenticate(), throttled by django-axes as the web login is.

axes needs a request: it reads the client's address (config/client_address.py, which believes
X-Forwarded-For only from TRUSTED_PROXIES), user agent and path from it, and records failures in the
shared database. The STOMP handshake's scope gives the same fields, so a login over STOMP counts
against the same limits as one on /accounts/login/.
"""

from django.contrib.auth import authenticate
from django.http import HttpRequest


def login(*, meta: dict[str, str], username: str, password: str):
    """The user these credentials identify, or None (wrong, inactive, or throttled: axes refuses
    a locked-out login before the password is checked)."""
    request = HttpRequest()
    request.META.update(meta)
    request.path = request.path_info = meta.get("PATH_INFO", "")
    request.method = "POST"
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return None
    return user
