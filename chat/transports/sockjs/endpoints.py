"""Which SockJS services this server mounts, and how each behaves."""

from dataclasses import dataclass

from django.conf import settings

CONFORMANCE_PREFIX = "/sockjs-conformance"


@dataclass(frozen=True)
class Endpoint:
    name: str  # also the handler's name (handlers.HANDLERS)
    prefix: str  # URL path prefix, no trailing slash
    websocket: bool = True
    cookie_needed: bool = False
    # The chat: requests need a signed-in user and an allowed Origin. The conformance
    # services are anonymous and answer any origin, as the suite expects.
    chat: bool = False
    # STOMP: a request may come without a signed-in user (CONNECT carries login/passcode), and a POST
    # without Origin is served, without its cookies (docs/stomp.md, "Authentication").
    anonymous: bool = False
    response_limit: int = 128 * 1024

    @property
    def heartbeat(self) -> float:
        return settings.CHAT_SOCKJS_HEARTBEAT

    @property
    def disconnect_delay(self) -> float:
        return settings.CHAT_SOCKJS_DISCONNECT_DELAY


def chat_endpoint() -> Endpoint:
    return Endpoint("chat", "/sockjs", chat=True, response_limit=settings.CHAT_SOCKJS_RESPONSE_LIMIT)


def stomp_endpoint() -> Endpoint:
    """STOMP over SockJS under CHAT_STOMP_PATH (docs/stomp.md)."""
    return Endpoint(
        "stomp",
        settings.CHAT_STOMP_PATH,
        chat=True,
        anonymous=True,
        response_limit=settings.CHAT_SOCKJS_RESPONSE_LIMIT,
    )


def conformance_endpoints() -> list[Endpoint]:
    """The services the sockjs-protocol suite expects (its README), with its 4 KiB response limit."""
    base = CONFORMANCE_PREFIX
    return [
        Endpoint("echo", f"{base}/echo", response_limit=4096),
        Endpoint("echo", f"{base}/disabled_websocket_echo", websocket=False, response_limit=4096),
        Endpoint("echo", f"{base}/cookie_needed_echo", cookie_needed=True, response_limit=4096),
        Endpoint("close", f"{base}/close", response_limit=4096),
    ]


def mounted() -> list[Endpoint]:
    endpoints = [chat_endpoint(), stomp_endpoint()]
    if settings.SOCKJS_CONFORMANCE:
        endpoints += conformance_endpoints()
    return endpoints


def endpoint_key(endpoint: Endpoint) -> str:
    """Identifies an endpoint across nodes (they mount the same ones)."""
    return endpoint.prefix.strip("/").replace("/", ".")
