"""The client address used for security decisions: the peer, unless the peer is a trusted proxy."""

import ipaddress

import pytest
from django.test import RequestFactory, override_settings

from chat.web.ops import _metrics_allowed
from config.client_address import client_address, parse_address

NGINX = [ipaddress.ip_network("127.0.0.1/32")]
CHAIN = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


def request(peer: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@override_settings(TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address(request("127.0.0.1", "203.0.113.7")) == "127.0.0.1"
    assert client_address(request("198.51.100.2", "203.0.113.7")) == "198.51.100.2"


@override_settings(TRUSTED_PROXIES=NGINX)
def test_behind_a_trusted_proxy_the_address_it_wrote_is_the_client():
    assert client_address(request("127.0.0.1", "203.0.113.7")) == "203.0.113.7"
    assert client_address(request("127.0.0.1")) == "127.0.0.1"  # no header: the proxy itself


@override_settings(TRUSTED_PROXIES=NGINX)
def test_a_peer_that_is_not_a_trusted_proxy_cannot_choose_its_address():
    assert client_address(request("198.51.100.2", "203.0.113.7")) == "198.51.100.2"


@override_settings(TRUSTED_PROXIES=NGINX)
def test_what_the_client_wrote_left_of_the_proxys_entry_is_ignored():
    # A proxy that appends ($proxy_add_x_forwarded_for): the client sent "X-Forwarded-For: 1.2.3.4".
    assert client_address(request("127.0.0.1", "1.2.3.4, 203.0.113.7")) == "203.0.113.7"
    assert client_address(request("127.0.0.1", "not an address, 203.0.113.7")) == "203.0.113.7"


@override_settings(TRUSTED_PROXIES=CHAIN)
def test_a_chain_of_trusted_proxies_is_walked_from_the_right():
    assert client_address(request("127.0.0.1", "1.2.3.4, 203.0.113.7, 10.0.0.5")) == "203.0.113.7"
    # Everything trusted: the earliest address known.
    assert client_address(request("127.0.0.1", "10.0.0.9, 10.0.0.5")) == "10.0.0.9"
    # Garbage written by the (trusted) hop's client: the last believable address.
    assert client_address(request("127.0.0.1", "junk, 10.0.0.5")) == "10.0.0.5"


@override_settings(TRUSTED_PROXIES=NGINX, METRICS_TOKEN="", METRICS_ALLOWED_NETWORKS=NGINX)
def test_metrics_allow_the_client_behind_the_proxy_not_the_proxy():
    assert _metrics_allowed(request("127.0.0.1"))  # a scraper on the node's machine
    assert not _metrics_allowed(request("127.0.0.1", "203.0.113.7"))  # someone through nginx


@override_settings(TRUSTED_PROXIES=[], METRICS_TOKEN="", METRICS_ALLOWED_NETWORKS=NGINX)
def test_metrics_ignore_the_header_without_trusted_proxies():
    assert not _metrics_allowed(request("198.51.100.2", "127.0.0.1"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:443 ", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("unknown", None),
        ("", None),
    ],
)
def test_parse_address(value, expected):
    parsed = parse_address(value)
    assert (str(parsed) if parsed else None) == expected
