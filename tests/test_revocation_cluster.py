"""Revocation on real processes: one Redis, one database (SQLite and PostgreSQL), two daphne nodes.

Deactivating a user, changing their password or deleting a session closes their WebSockets and
SockJS sessions on both nodes with 4401; a removed member stops reading; and when the revoking
event is lost (the change made behind the services' back, with QuerySet.update() or delete(),
which send no signal), each node's repair tick makes it good.
"""

import asyncio
import json
import re
import time
from functools import partial
from html.parser import HTMLParser

import httpx
import pytest
import websockets

from chat.testing.clients import CSRF_RE, FrameClient, HttpUser, WsClient
from chat.testing.cluster import DATABASES, cluster_on, connect, new_user
from tests.sockjs_client import SockJSClient

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    with cluster_on(request.param, tmp_path_factory.mktemp(f"revocation-{request.param}")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def admin(cluster) -> HttpUser:
    """A superuser signed in through node 1."""
    cluster.django(
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_superuser('root', 'root@example.com', {PASSWORD!r}); print('ok')"
    )
    http = HttpUser(cluster.nodes[0].http_url)
    http.login("root", PASSWORD)
    return http


def user_pk(cluster, username: str) -> int:
    return int(
        cluster.django(
            f"from django.contrib.auth import get_user_model; "
            f"print(get_user_model().objects.get(username={username!r}).pk)"
        )
    )


class _FormReader(HTMLParser):
    """The fields a browser would submit from a page's form with the given id."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, None
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif not self.inside or "name" not in attrs:
            if tag == "option" and self.inside and self.select and "selected" in attrs:
                self.fields.append((self.select, attrs.get("value", "")))
        elif tag == "input" and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") not in ("checkbox", "radio"):
                self.fields.append((attrs["name"], attrs.get("value") or ""))
            elif "checked" in attrs:
                self.fields.append((attrs["name"], attrs.get("value", "on")))
        elif tag == "select":
            self.select = attrs["name"]

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_errors(response: httpx.Response) -> str:
    """The error lists of a page that answered a form with its errors, for assertion messages."""
    import re

    return (
        " | ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S))
        or response.text[:300]
    )


def submit_admin_form(http: HttpUser, path: str, form_id: str, **changes) -> httpx.Response:
    """Submit an admin form as a browser would, with `changes` (None unchecks or drops a field)."""
    page = http.client.get(path)
    assert page.status_code == 200, page.text[:300]
    reader = _FormReader(form_id)
    reader.feed(page.text)
    data: dict[str, list[str]] = {}
    for name, value in reader.fields:
        if name not in changes:
            data.setdefault(name, []).append(value)
    data.update({name: [value] for name, value in changes.items() if value is not None})
    return http.client.post(path, data=data)


async def close_code(client: FrameClient, timeout: float = 10) -> int:
    """Wait for the server to close the connection (frames before it are skipped); its code."""
    if isinstance(client, SockJSClient):
        return (await asyncio.wait_for(client.closed, timeout))[0]
    deadline = time.monotonic() + timeout
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await client.recv(max(0.01, deadline - time.monotonic()))
    return closed.value.rcvd.code


async def still_open(client: FrameClient) -> bool:
    await client.send_checked({"type": "ping"})
    return (await client.recv_type("pong"))["type"] == "pong"


async def open_everywhere(cluster, http: HttpUser) -> list[FrameClient]:
    """A WebSocket on each node and a SockJS session (xhr-streaming) on each node."""
    clients: list[FrameClient] = [await connect(cluster, http, 0), await connect(cluster, http, 1)]
    for node in cluster.nodes:
        sockjs = await SockJSClient([node.http_url], http.session_cookie, transport="xhr_streaming").open()
        assert sockjs.opened.is_set()
        clients.append(sockjs)
    for client in clients:  # every connection is open and served before the change
        assert await still_open(client)
    return clients


async def assert_all_closed_with_4401(clients: list[FrameClient], timeout: float = 10) -> None:
    codes = await asyncio.gather(*(close_code(client, timeout) for client in clients))
    assert codes == [4401] * len(clients)


async def close_all(clients) -> None:
    for client in clients:
        await client.close()


# --- the events -------------------------------------------------------------------------------


async def test_deactivating_a_user_in_the_admin_closes_their_sockets_on_both_nodes_with_4401(cluster, admin):
    name, http = new_user(cluster)
    _, bystander_http = new_user(cluster)
    victim = await open_everywhere(cluster, http)
    bystander = await connect(cluster, bystander_http, 1)
    path = f"/admin/auth/user/{user_pk(cluster, name)}/change/"
    started = time.monotonic()
    response = submit_admin_form(admin, path, "user_form", is_active=None)
    assert response.status_code == 302, form_errors(response)
    await assert_all_closed_with_4401(victim)
    print(
        f"deactivated in the admin: four connections closed {time.monotonic() - started:.2f} s after the GET+POST"
    )
    assert await still_open(bystander)
    again = await connect(cluster, http, 1)  # and the session no longer opens a socket
    assert await close_code(again) == 4401
    await close_all([*victim, bystander])


async def test_changing_a_password_in_the_admin_closes_the_users_sockets_on_both_nodes_with_4401(
    cluster, admin
):
    name, http = new_user(cluster)
    victim = await open_everywhere(cluster, http)
    path = f"/admin/auth/user/{user_pk(cluster, name)}/password/"
    new_password = "another-horse-battery-7"
    response = submit_admin_form(admin, path, "user_form", password1=new_password, password2=new_password)
    assert response.status_code == 302, form_errors(response)
    await assert_all_closed_with_4401(victim)
    http.login(name, new_password)  # a new session works
    fresh = await connect(cluster, http, 1)
    assert await still_open(fresh)
    await close_all([*victim, fresh])


async def test_changing_ones_own_password_closes_ones_sockets_on_both_nodes_with_4401(cluster):
    """The password change view (here the admin's own, for a staff user) takes the same path."""
    name, http = new_user(cluster)
    cluster.django(
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.filter(username={name!r}).update(is_staff=True); print('ok')"
    )
    victim = await open_everywhere(cluster, http)
    token = CSRF_RE.search(http.client.get("/admin/password_change/").text).group(1)
    new_password = "my-new-horse-battery-3"
    form = {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password}
    response = http.client.post("/admin/password_change/", data={**form, "csrfmiddlewaretoken": token})
    assert response.status_code == 302, response.text[:500]
    await assert_all_closed_with_4401(victim)
    await close_all(victim)


async def test_deleting_a_session_in_the_admin_closes_its_sockets_on_both_nodes_only(cluster, admin):
    name, http = new_user(cluster)
    other_http = HttpUser(cluster.nodes[1].http_url)
    other_http.login(name, PASSWORD)  # a second session of the same user (another device)
    victim = await open_everywhere(cluster, http)
    other_device = await connect(cluster, other_http, 0)
    page = admin.client.get("/admin/sessions/session/")
    assert page.status_code == 200 and http.session_cookie in page.text
    assert name in page.text
    token = CSRF_RE.search(page.text).group(1)
    form = {
        "action": "delete_selected",
        "_selected_action": http.session_cookie,
        "csrfmiddlewaretoken": token,
    }
    confirm = admin.client.post("/admin/sessions/session/", data=form)
    assert confirm.status_code == 200, confirm.text[:500]
    done = admin.client.post("/admin/sessions/session/", data={**form, "post": "yes"})
    assert done.status_code == 302, done.text[:500]
    await assert_all_closed_with_4401(victim)
    assert await still_open(other_device)
    await close_all([*victim, other_device])


async def test_logging_out_closes_that_sessions_websockets_and_sockjs_sessions_on_both_nodes(cluster):
    _, http = new_user(cluster)
    victim = await open_everywhere(cluster, http)
    token = CSRF_RE.search(http.client.get("/").text).group(1)
    assert http.client.post("/accounts/logout/", data={"csrfmiddlewaretoken": token}).status_code == 302
    await assert_all_closed_with_4401(victim)
    await close_all(victim)


# --- lost events: the repair tick ---------------------------------------------------------------

LOST = {
    "deactivated": "get_user_model().objects.filter(username={name!r}).update(is_active=False)",
    "password changed": "get_user_model().objects.filter(username={name!r}).update(password='md5$x$y')",
    "session deleted": "Session.objects.filter(session_key={key!r}).delete()",
}


@pytest.mark.parametrize("change", list(LOST))
async def test_a_revocation_whose_event_is_lost_closes_the_sockets_on_both_nodes_within_a_tick(
    cluster, change
):
    name, http = new_user(cluster)
    victim = await open_everywhere(cluster, http)
    statement = LOST[change].format(name=name, key=http.session_cookie)
    changed_at = float(
        cluster.django(
            "import time; from django.contrib.auth import get_user_model; "
            f"from django.contrib.sessions.models import Session; {statement}; print(time.time())"
        )
    )
    await assert_all_closed_with_4401(victim, timeout=10)
    elapsed = time.time() - changed_at
    print(f"{change}: all four connections closed {elapsed:.2f} s after the change (tick 0.5 s)")
    assert elapsed < 3  # a tick is 0.5 s here: within a few ticks, not at the next event
    await close_all(victim)


async def test_a_member_removed_without_the_event_reads_nothing_more_on_either_node(cluster):
    owner_name, owner_http = new_user(cluster)
    member_name, member_http = new_user(cluster)
    stayer_name, stayer_http = new_user(cluster)
    room = owner_http.create_room("Revoked", private=True)
    cluster.django(
        "from chat.domain import rooms\n"
        f"for name in ({member_name!r}, {stayer_name!r}):\n"
        f"    rooms.room_member_add(room_slug={room!r}, actor=None, username=name, as_admin=True)\n"
        "print('ok')"
    )
    owner = await connect(cluster, owner_http, 1)
    stayer = await connect(cluster, stayer_http, 0)  # a member who stays, on the other node
    member = [
        await connect(cluster, member_http, 0),
        await connect(cluster, member_http, 1),
        await SockJSClient([cluster.nodes[1].http_url], member_http.session_cookie).open(),
    ]
    for client in [stayer, *member]:
        await client.subscribe(room)
    await owner.send_message(room, "before", "before")
    for client in [stayer, *member]:
        assert (await client.recv_type("message"))["body"] == "before"

    removed_at = float(
        cluster.django(  # the service's event is lost: the membership goes behind its back
            "import time; from chat.models import Membership; "
            f"Membership.objects.filter(room__slug={room!r}, user__username={member_name!r}).delete(); "
            "print(time.time())"
        )
    )
    for client in member:
        assert await client.recv_type("unsubscribed", timeout=10) == {
            "type": "unsubscribed",
            "room": room,
            "reason": "forbidden",
        }
        assert await client.recv() == {"type": "room.removed", "room": room}
    print(
        f"subscriptions on both nodes ended {time.time() - removed_at:.2f} s after the removal (tick 0.5 s)"
    )
    assert time.time() - removed_at < 3

    for i in range(3):
        await owner.send_message(room, f"after {i}", f"after{i}")
    for i in range(3):  # delivered live to the members who stay ...
        assert (await stayer.recv_type("message"))["body"] == f"after {i}"
    # ... and not to the removed one, live or repaired, on either node, over three ticks.
    waits = await asyncio.gather(
        *(client.recv_type("message", timeout=1.5) for client in member), return_exceptions=True
    )
    assert all(isinstance(wait, asyncio.TimeoutError) for wait in waits), waits
    for client in member:
        await client.send_checked({"type": "history.fetch", "room": room})
        assert (await client.recv_type("error"))["code"] == "unknown_room"
    await close_all([owner, stayer, *member])


# --- no existence oracle --------------------------------------------------------------------------


async def test_a_private_room_is_as_unknown_to_an_outsider_as_a_missing_one_on_both_nodes(cluster):
    _, owner_http = new_user(cluster)
    _, outsider_http = new_user(cluster)
    room = owner_http.create_room("Hidden qzx", private=True)  # a slug no page text contains
    for node in cluster.nodes:
        client = httpx.Client(base_url=node.http_url, cookies={"sessionid": outsider_http.session_cookie})
        private, missing = client.get(f"/rooms/{room}/"), client.get("/rooms/no-such-room/")
        assert (private.status_code, missing.status_code) == (404, 404)
        # The pages differ only by the slug asked for and the (per-response masked) CSRF token.
        unmask = partial(re.sub, r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf")
        assert unmask(private.text.replace(room, "?")) == unmask(missing.text.replace("no-such-room", "?"))
        outsider: WsClient = await connect(cluster, outsider_http, cluster.nodes.index(node))
        answers = []
        for slug in (room, "no-such-room"):
            await outsider.send({"type": "subscribe", "room": slug})
            error = await outsider.recv_type("error")
            answers.append(json.dumps(error).replace(slug, "?"))
        assert answers[0] == answers[1] and '"unknown_room"' in answers[0]
        await outsider.close()
