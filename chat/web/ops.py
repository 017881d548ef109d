"""Operational HTTP endpoints: /healthz, /readyz, /metrics. Async views: a hung database or
Redis makes /readyz answer "not ready" after a short timeout, never hang with it."""

import asyncio
import hmac
import ipaddress

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chat.realtime.redisclient import redis_client
from config.client_address import client_address

CHECK_TIMEOUT = 1.0


async def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and its event loop answers."""
    return HttpResponse("ok\n", content_type="text/plain")


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _check(name: str, probe) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
        return name, "ok"
    except TimeoutError:
        return name, "timeout"
    except Exception as exc:
        return name, f"error: {type(exc).__name__}"


async def readyz(request: HttpRequest) -> HttpResponse:
    """Ready for traffic when the database and Redis answer within a second each."""
    results = dict(
        await asyncio.gather(
            _check("database", database_sync_to_async(_database_ok)),
            _check("redis", lambda: redis_client().ping()),
        )
    )
    ready = all(value == "ok" for value in results.values())
    return JsonResponse({"ready": ready, **results}, status=200 if ready else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(supplied.encode(), token.encode()):
            return True
    try:
        client = ipaddress.ip_address(client_address(request) or "")  # the peer, unless a trusted proxy
    except ValueError:
        return False
    return any(client in network for network in settings.METRICS_ALLOWED_NETWORKS)


async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for a bearer token (METRICS_TOKEN) or an allowed address."""
    if not _metrics_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
