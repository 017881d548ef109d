"""The address of the client behind a request, for security decisions (login throttling, /metrics).

By default it is the TCP peer (REMOTE_ADDR) and nothing the client sends can change it. Only when the
deployment names its proxies (TRUSTED_PROXIES, networks) and the peer is one of them is
X-Forwarded-For read, from the right: each trusted proxy appended (or wrote) the address it received
the request from, so the first address from the right that is not a trusted proxy is the client.
Anything further left was written by the client itself and is ignored, so a client cannot choose
its address by sending the header, whether the proxy replaces the header (deploy/nginx.conf:
`X-Forwarded-For $remote_addr`) or appends to it (`$proxy_add_x_forwarded_for`, load balancers).
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(value: str) -> Address | None:
    """An IP address from a header or REMOTE_ADDR value (with or without a port; IPv4-mapped IPv6
    addresses become IPv4), or None."""
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]" or "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks) -> bool:
    return any(address in network for network in networks)


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address as a string (None when the server gave no peer address)."""
    peer = parse_address(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = settings.TRUSTED_PROXIES
    if not networks or not _trusted(peer, networks):
        return str(peer)
    # Several X-Forwarded-For headers arrive joined with "," (ASGIRequest), in the order sent.
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # not written by a trusted proxy: nothing left of it can be believed
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
