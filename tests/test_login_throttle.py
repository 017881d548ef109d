"""Login throttling on real processes: two daphne nodes sharing one database (config/login_throttle.py).

Failures are counted in the database, so a guesser who alternates between the nodes gets no more
tries than one who stays on one; the tests of nodes reached directly run on SQLite and PostgreSQL. The limits here are small (3 per username and address, 6 per
address, 6 per username) so that each test needs few password hashes.
"""

import ipaddress
import re
import time

import httpx
import psycopg
import pytest

from chat.testing.clients import CSRF_RE, WsClient
from chat.testing.cluster import DATABASES, Cluster, cluster_on, new_user, start_cluster

pytestmark = [pytest.mark.cluster]

PASSWORD = "correct-horse-battery-9"  # chat.testing.cluster.new_user's
LIMITS = {
    "LOGIN_FAILURE_LIMIT": "3",
    "LOGIN_FAILURE_LIMIT_PER_ADDRESS": "6",
    "LOGIN_FAILURE_LIMIT_PER_USERNAME": "6",
}
LOCKED_EN = "Logging in is paused after too many failed attempts"
LOCKED_KO = "로그인이 잠시 중지되었습니다"


def attempt(
    cluster: Cluster,
    node: int,
    username: str,
    password: str,
    *,
    path: str = "/accounts/login/",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One login through the form, as a browser sends it (a fresh client: no session, no cookie)."""
    with httpx.Client(base_url=cluster.nodes[node].http_url, headers=headers, timeout=30) as client:
        page = client.get(path)
        assert page.status_code == 200, page.text[:300]
        token = CSRF_RE.search(page.text).group(1)
        return client.post(
            path, data={"username": username, "password": password, "csrfmiddlewaretoken": token}
        )


def accepted(response: httpx.Response) -> bool:
    return response.status_code == 302


def refused_wrong_password(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'name="password"' in response.text


def locked(response: httpx.Response) -> bool:
    return (
        response.status_code == 429
        and response.headers["content-type"].startswith("text/html")
        and LOCKED_EN in response.text
    )


def fail(
    cluster: Cluster, username: str, count: int, *, first_node: int = 0, **kwargs
) -> list[httpx.Response]:
    """`count` wrong passwords for `username`, alternating between the two nodes."""
    return [attempt(cluster, (first_node + i) % 2, username, f"wrong-{i}", **kwargs) for i in range(count)]


def sql(cluster: Cluster, statement: str, *params) -> list[tuple]:
    """Run SQL (with ? placeholders) on the cluster's database, SQLite or PostgreSQL."""
    url = cluster.env["DATABASE_URL"]
    if not url.startswith("postgres"):
        return cluster.sql(statement, *params)
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as db:
        cursor = db.execute(statement.replace("?", "%s"), params)
        rows = cursor.fetchall() if cursor.description else []
    # inet columns arrive as ipaddress objects; SQLite's as text.
    address = (ipaddress.IPv4Address, ipaddress.IPv6Address)
    return [tuple(str(v) if isinstance(v, address) else v for v in row) for row in rows]


@pytest.fixture(scope="module", params=DATABASES)
def direct(request, tmp_path_factory):
    """Nodes reached directly (no TRUSTED_PROXIES): the peer address is the client, 127.0.0.1."""
    with cluster_on(
        request.param,
        tmp_path_factory.mktemp(f"throttle-direct-{request.param}"),
        **LIMITS,
    ) as cluster:
        yield cluster


@pytest.fixture
def cluster(direct):
    """Every test starts with no failure counted: they all come from the same address."""
    sql(direct, "DELETE FROM axes_accessattempt")
    return direct


def test_wrong_passwords_alternating_nodes_lock_the_right_one_out_on_both(cluster):
    name, _ = new_user(cluster)
    responses = fail(cluster, name, 3)
    assert all(refused_wrong_password(r) for r in responses[:2])
    assert locked(responses[2])  # the failure that reaches the limit already gets the page
    for node in (0, 1):
        response = attempt(cluster, node, name, PASSWORD)
        assert locked(response), response.text[:300]
        assert response.headers["retry-after"] == "900"
        assert "Try again in 15 minutes." in response.text


def test_the_lockout_page_is_in_korean_for_korean_browsers(cluster):
    name, _ = new_user(cluster)
    fail(cluster, name, 3)
    response = attempt(cluster, 1, name, PASSWORD, headers={"Accept-Language": "ko"})
    assert response.status_code == 429
    assert LOCKED_KO in response.text and "15분 후에 다시 시도하세요." in response.text
    assert '<html lang="ko">' in response.text


def test_another_username_from_the_same_address_until_the_address_limit(cluster):
    alice, _ = new_user(cluster)
    bob, _ = new_user(cluster)
    carol, _ = new_user(cluster)
    fail(cluster, alice, 3)
    assert locked(attempt(cluster, 0, alice, PASSWORD))
    # Locking alice from this address does not lock bob out of it ...
    assert accepted(attempt(cluster, 1, bob, PASSWORD))
    # ... but 6 failures from one address, whatever the usernames, lock the address.
    responses = fail(cluster, bob, 2) + fail(cluster, "no-such-user", 1)
    assert [refused_wrong_password(r) for r in responses] == [True, True, False]
    assert locked(responses[-1])
    assert locked(attempt(cluster, 0, carol, PASSWORD))
    assert locked(attempt(cluster, 1, bob, PASSWORD))


def test_attempts_while_locked_out_are_not_counted(cluster):
    alice, _ = new_user(cluster)
    fail(cluster, alice, 3)
    for _ in range(5):  # would pass the address limit of 6 if they counted
        assert locked(attempt(cluster, 0, alice, "still-wrong"))
    counted = sql(cluster, "SELECT SUM(failures_since_start) FROM axes_accessattempt")
    assert counted == [(3,)]
    bob, _ = new_user(cluster)
    assert accepted(attempt(cluster, 1, bob, PASSWORD))


def test_the_admin_login_is_throttled_too(cluster):
    cluster.django(
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_superuser('root', password={PASSWORD!r}); print('ok')"
    )
    responses = fail(cluster, "root", 3, path="/admin/login/")
    assert [r.status_code for r in responses] == [200, 200, 429]
    for node in (0, 1):
        assert locked(attempt(cluster, node, "root", PASSWORD, path="/admin/login/"))
    # The same counts apply to the user login page.
    assert locked(attempt(cluster, 0, "root", PASSWORD))


def test_x_forwarded_for_is_ignored_without_trusted_proxies(cluster):
    name, _ = new_user(cluster)
    for i in range(3):  # every failure claims another address
        attempt(cluster, i % 2, name, "wrong", headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
    response = attempt(cluster, 0, name, PASSWORD, headers={"X-Forwarded-For": "198.51.100.9"})
    assert locked(response)
    assert sql(cluster, "SELECT DISTINCT ip_address FROM axes_accessattempt") == [("127.0.0.1",)]


async def test_sockets_of_a_locked_out_user_still_authenticate(cluster):
    name, http = new_user(cluster)  # signed up and logged in before the lockout
    fail(cluster, name, 3)
    assert locked(attempt(cluster, 1, name, PASSWORD))
    for node in (0, 1):
        client = await WsClient.connect(cluster.nodes[node].port, http.session_cookie)
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}
        await client.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """Nodes behind a proxy on 127.0.0.1 (TRUSTED_PROXIES): X-Forwarded-For names the client."""
    cluster = start_cluster(
        tmp_path_factory.mktemp("throttle-proxied"), TRUSTED_PROXIES="127.0.0.1/32", **LIMITS
    )
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def test_behind_a_trusted_proxy_each_client_address_is_counted_apart(proxied):
    name, _ = new_user(proxied)
    fail(proxied, name, 3, headers=from_address("198.51.100.1"))
    assert locked(attempt(proxied, 0, name, PASSWORD, headers=from_address("198.51.100.1")))
    # A guesser elsewhere cannot lock the owner out (below the username limit).
    assert accepted(attempt(proxied, 1, name, PASSWORD, headers=from_address("198.51.100.2")))
    # The guesser cannot get out by adding an address of its own in front of the proxy's.
    spoofed = from_address("198.51.100.77, 198.51.100.1")
    assert locked(attempt(proxied, 0, name, PASSWORD, headers=spoofed))
    addresses = sql(proxied, "SELECT DISTINCT ip_address FROM axes_accessattempt WHERE username = ?", name)
    assert addresses == [("198.51.100.1",)]


def test_many_addresses_guessing_one_username_lock_it(proxied):
    name, _ = new_user(proxied)
    fail(proxied, name, 3, headers=from_address("192.0.2.1"))
    responses = fail(proxied, name, 3, first_node=1, headers=from_address("192.0.2.2"))
    assert locked(responses[-1])  # 6 for this username: locked from every address
    assert locked(attempt(proxied, 0, name, PASSWORD, headers=from_address("192.0.2.3")))
    other, _ = new_user(proxied)
    assert accepted(attempt(proxied, 1, other, PASSWORD, headers=from_address("192.0.2.3")))


@pytest.fixture
def short_cooloff(tmp_path):
    cluster = start_cluster(tmp_path / "throttle-cooloff", LOGIN_COOLOFF="3", **LIMITS)
    yield cluster
    cluster.stop()
    cluster.assert_no_tracebacks()


def test_login_works_again_after_the_cool_off(short_cooloff):
    cluster = short_cooloff
    name, _ = new_user(cluster)
    fail(cluster, name, 2)
    last_failure = time.monotonic()  # the limit-reaching failure is counted at or after this
    response = attempt(cluster, 1, name, "wrong")
    assert locked(response) and re.search(r"Try again in 1 minute\.", response.text)
    assert response.headers["retry-after"] == "3"
    # Tried again and again (refused tries do not extend the cool-off) until it is accepted.
    deadline = time.monotonic() + 30
    node = 0
    while not accepted(response := attempt(cluster, node, name, PASSWORD)):
        assert locked(response), response.text[:300]
        assert time.monotonic() < deadline, "still locked out 30 s after the last failure"
        node = 1 - node
        time.sleep(0.1)  # the polling interval, not a wait for the cool-off
    assert time.monotonic() - last_failure >= 3
