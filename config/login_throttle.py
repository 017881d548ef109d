"""Login throttling with django-axes: three limits, counted in the shared database.

Failed logins (on /accounts/login/ and /admin/login/, or anywhere `authenticate(request, ...)` runs)
are stored by axes' database handler, so every node sees every other node's failures. A login is
refused, before the password is even checked, while within the cool-off (LOGIN_COOLOFF) there were

1. LOGIN_FAILURE_LIMIT failures for this username from this address (the pair), or
2. LOGIN_FAILURE_LIMIT_PER_ADDRESS failures from this address, whatever the usernames, or
3. LOGIN_FAILURE_LIMIT_PER_USERNAME failures for this username, whatever the addresses.

Why three: the pair limit alone would let one address try a few passwords on every account
(password spraying); an address limit alone would let an attacker with many addresses guess one
password without end; a username limit alone would let anyone lock any user out with a handful of
wrong passwords. The pair limit is low and cannot hurt anyone but the guesser; the address limit is
higher, since many users can share one address (an office, a mobile carrier's NAT); the username
limit is the highest: locking a victim out takes LOGIN_FAILURE_LIMIT_PER_USERNAME /
LOGIN_FAILURE_LIMIT addresses (failures made while locked are not counted, so no address
contributes more than the pair limit), and 0 turns it off.

axes itself knows a single limit (AXES_FAILURE_LIMIT, here the pair's) that it compares with the
highest count of its lockout parameters; the handler below reports a count that reaches that limit
exactly when one of the three counts reaches its own limit.
"""

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

PAIR = ("username", "ip_address")


class TieredDatabaseHandler(AxesDatabaseHandler):
    """axes' database handler with a limit of its own for each entry of AXES_LOCKOUT_PARAMETERS
    (settings.LOGIN_THROTTLE_LIMITS, which config/settings.py builds from the LOGIN_* variables)."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        limits = settings.LOGIN_THROTTLE_LIMITS
        parameters = [tuple(p) for p in get_lockout_parameters(request, credentials)]
        counts = {
            parameter: attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for parameter, attempts in zip(
                parameters, self.get_user_attempts(request, credentials), strict=True
            )
        }
        reached = [counts[p] for p in parameters if counts[p] >= limits[p]]
        if reached:
            return max(*reached, settings.AXES_FAILURE_LIMIT)
        # Below every limit: the pair's count, which is below AXES_FAILURE_LIMIT.
        return counts.get(PAIR, 0)


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """The page shown instead of a login form while a login is refused (AXES_LOCKOUT_CALLABLE).

    axes passes (original_response, credentials) after the request, in an order that depends on
    whether the middleware runs sync or async; neither is needed here.
    """
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": max(1, math.ceil(seconds / 60))},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(seconds)
    return response
