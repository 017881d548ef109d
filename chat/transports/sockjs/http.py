"""The SockJS HTTP endpoints: greeting, info, and the xhr, xhr_streaming, eventsource and
xhr_send transports. JSONP, htmlfile and the iframe page are not served (docs/protocol.md)."""

import asyncio
import json
import re
import secrets
from email.utils import formatdate
from time import time
from urllib.parse import urlparse

from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from chat.protocol import closecodes
from chat.realtime.layer import REDIS_DOWN
from chat.transports.auth import scope_meta
from chat.transports.sockjs import framing, relay
from chat.transports.sockjs.endpoints import Endpoint

NOT_CACHED = "no-store, no-cache, no-transform, must-revalidate, max-age=0"
YEAR = 365 * 24 * 3600
SESSION_PATH = re.compile(r"/([^/.]+)/([^/.]+)/([a-z_]+)")  # fullmatch: `$` allows a trailing newline
TEXT = "text/plain; charset=UTF-8"
JAVASCRIPT = "application/javascript; charset=UTF-8"

# transport -> (method, prelude, frame wrapper, polling)
RECEIVING = {
    "xhr": ("POST", b"", lambda frame: frame + "\n", True),
    "xhr_streaming": ("POST", b"h" * 2048 + b"\n", lambda frame: frame + "\n", False),
    "eventsource": ("GET", b"\r\n", lambda frame: "data: " + frame + "\r\n\r\n", False),
}
CONTENT_TYPES = {"xhr": JAVASCRIPT, "xhr_streaming": JAVASCRIPT, "eventsource": "text/event-stream"}


class Request:
    def __init__(self, scope, receive, send, endpoint: Endpoint) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.endpoint = endpoint
        self.method = scope["method"]
        self.headers = {
            name.decode("latin1").lower(): value.decode("latin1") for name, value in scope["headers"]
        }

    def cors(self) -> list[tuple[str, str]]:
        origin = self.headers.get("origin")
        headers = (
            [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
            if origin
            else [("Access-Control-Allow-Origin", "*")]
        )
        if self.headers.get("access-control-request-headers"):
            headers.append(("Access-Control-Allow-Headers", self.headers["access-control-request-headers"]))
        return headers

    def cookie(self) -> list[tuple[str, str]]:
        """The JSESSIONID cookie that sticky load balancers key on, for services that ask for it."""
        if not self.endpoint.cookie_needed:
            return []
        cookies = {}
        for part in self.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        return [("Set-Cookie", f"JSESSIONID={cookies.get('JSESSIONID') or 'dummy'}; path=/")]

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        headers = [*headers, ("X-Content-Type-Options", "nosniff")]
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(name.encode("latin1"), value.encode("latin1")) for name, value in headers],
            }
        )

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        if status != 204:
            headers = [*headers, ("Content-Length", str(len(body)))]
        await self.start(status, headers)
        await self.send({"type": "http.response.body", "body": body})

    async def text(self, status: int, body: str, headers: list[tuple[str, str]] = ()) -> None:
        await self.respond(status, [("Content-Type", TEXT), *headers], body.encode())

    async def not_found(self) -> None:
        await self.text(404, "Not found.\n")

    async def not_allowed(self, allow: str) -> None:
        await self.respond(405, [("Allow", allow)])

    async def options(self, methods: str) -> None:
        await self.respond(
            204,
            [
                ("Cache-Control", f"public, max-age={YEAR}"),
                ("Expires", formatdate(time() + YEAR, usegmt=True)),
                ("Access-Control-Max-Age", str(YEAR)),
                ("Access-Control-Allow-Methods", methods),
                *self.cors(),
            ],
        )

    async def read_body(self, limit: int) -> bytes | None:
        """The request body, or None once it exceeds the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


class SockJSHttpApp:
    """ASGI app for the HTTP side of every mounted SockJS endpoint."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = sorted(endpoints, key=lambda e: len(e.prefix), reverse=True)
        self.origins = AllowedHostsOriginValidator(None)

    def endpoint_for(self, path: str) -> Endpoint | None:
        for endpoint in self.endpoints:
            if path == endpoint.prefix or path.startswith(endpoint.prefix + "/"):
                return endpoint
        return None

    async def __call__(self, scope, receive, send) -> None:
        endpoint = self.endpoint_for(scope["path"])
        request = Request(scope, receive, send, endpoint)
        rest = scope["path"][len(endpoint.prefix) :]
        if endpoint.chat and not self.origin_allowed(request):
            if not (endpoint.anonymous and "origin" not in request.headers):
                await request.text(403, "Origin not allowed.\n")
                return
            # A POST without Origin is no browser's (CSRF): served, but its cookies are not used.
            request.scope = dict(scope, user=AnonymousUser(), session=None)
        if rest in ("", "/"):
            if request.method == "GET":
                await request.text(200, "Welcome to SockJS!\n")
            else:
                await request.not_allowed("GET")
            return
        if rest == "/info":
            await self.info(request)
            return
        if rest == "/websocket":
            await self.websocket_over_http(request)
            return
        match = SESSION_PATH.fullmatch(rest)
        if match is None:
            await request.not_found()
            return
        _server_id, session_id, transport = match.groups()
        if len(session_id) > 128:
            await request.not_found()
        elif transport == "websocket":
            await self.websocket_over_http(request)
        elif transport == "xhr_send":
            await self.xhr_send(request, session_id)
        elif transport in RECEIVING:
            await self.receiving(request, session_id, transport)
        else:
            await request.not_found()

    def origin_allowed(self, request: Request) -> bool:
        """The chat answers only its own site; POSTs must say where they come from (CSRF)."""
        origin = request.headers.get("origin")
        if origin is None:
            return request.method in ("GET", "HEAD")
        return self.origins.valid_origin(urlparse(origin))

    async def info(self, request: Request) -> None:
        if request.method == "OPTIONS":
            await request.options("OPTIONS, GET")
            return
        if request.method != "GET":
            await request.not_allowed("OPTIONS, GET")
            return
        info = {
            "websocket": request.endpoint.websocket,
            "cookie_needed": request.endpoint.cookie_needed,
            "origins": ["*:*"],
            "entropy": secrets.randbits(32),
        }
        await request.respond(
            200,
            [
                ("Content-Type", "application/json; charset=UTF-8"),
                ("Cache-Control", NOT_CACHED),
                *request.cors(),
            ],
            json.dumps(info).encode(),
        )

    async def websocket_over_http(self, request: Request) -> None:
        """A plain HTTP request to a WebSocket URL (the handshakes themselves never get here)."""
        if not request.endpoint.websocket:
            await request.not_found()
        elif request.method != "GET":
            await request.not_allowed("GET")
        else:
            await request.text(400, 'Can "Upgrade" only to "WebSocket".\n')

    def user(self, request: Request):
        return request.scope.get("user") if request.endpoint.chat else None

    async def xhr_send(self, request: Request, session_id: str) -> None:
        if request.method == "OPTIONS":
            await request.options("OPTIONS, POST")
            return
        if request.method != "POST":
            await request.not_allowed("OPTIONS, POST")
            return
        headers = [("Cache-Control", NOT_CACHED), *request.cors(), *request.cookie()]
        body = await request.read_body(settings.CHAT_SOCKJS_SEND_MAX_BYTES)
        if body is None:
            await request.text(413, "Payload too large.", headers)
            return
        if not body:
            await request.text(500, "Payload expected.", headers)
            return
        try:
            messages = framing.parse_messages(body.decode(), single_allowed=False)
        except (UnicodeDecodeError, framing.BrokenJson):
            await request.text(500, "Broken JSON encoding.", headers)
            return
        user = self.user(request)
        if request.endpoint.chat and not request.endpoint.anonymous and not user.is_authenticated:
            await request.text(403, "Not signed in.", headers)
            return
        try:
            status = await relay.send(request.endpoint, session_id, user=user, messages=messages)
        except REDIS_DOWN:
            await request.text(503, "Service unavailable, try again.", headers)
            return
        if status == 204:
            await request.respond(204, [("Content-Type", TEXT), *headers])
        elif status == 429:
            await request.text(429, "Too many messages waiting; slow down.", headers)
        else:
            await request.not_found()

    async def receiving(self, request: Request, session_id: str, transport: str) -> None:
        method, prelude, wrap, polling = RECEIVING[transport]
        if request.method == "OPTIONS" and method == "POST":
            await request.options("OPTIONS, POST")
            return
        if request.method != method:
            await request.not_allowed(f"OPTIONS, {method}" if method == "POST" else method)
            return
        if method == "POST":
            await request.read_body(settings.CHAT_SOCKJS_SEND_MAX_BYTES)  # nothing expected; drained
        user = self.user(request)
        if request.endpoint.chat and not request.endpoint.anonymous and not user.is_authenticated:
            stream = relay.FixedStream(
                framing.close(closecodes.UNAUTHENTICATED, closecodes.REASONS[closecodes.UNAUTHENTICATED])
            )
        else:
            session = request.scope.get("session")
            try:
                stream = await relay.receive(
                    request.endpoint,
                    session_id,
                    user=user,
                    session_key=session.session_key
                    if session is not None and request.endpoint.chat
                    else None,
                    transport=transport.replace("_", "-"),
                    polling=polling,
                    overhead=len(wrap("")),
                    meta=scope_meta(request.scope),
                )
            except REDIS_DOWN:
                # Sessions are routed through Redis; the client retries (sockjs-client reconnects).
                await request.text(503, "Service unavailable, try again.")
                return
        if stream is None:
            await request.not_found()
            return
        await request.start(
            200,
            [
                ("Content-Type", CONTENT_TYPES[transport]),
                ("Cache-Control", NOT_CACHED),
                *request.cors(),
                *request.cookie(),
            ],
        )
        if prelude:
            await request.send({"type": "http.response.body", "body": prelude, "more_body": True})
        await _pump(request, stream, wrap)


async def _pump(request: Request, stream: relay.Stream, wrap) -> None:
    """Write the stream's frames until it ends; tell the session if the client leaves first."""

    async def client_gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    gone = asyncio.ensure_future(client_gone())
    try:
        while True:
            frame = asyncio.ensure_future(stream.next())
            await asyncio.wait({frame, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not frame.done():
                frame.cancel()
                await stream.abort()
                return
            text, end = frame.result()
            await request.send(
                {"type": "http.response.body", "body": wrap(text).encode(), "more_body": not end}
            )
            if end:
                return
    finally:
        gone.cancel()
        stream.done()
