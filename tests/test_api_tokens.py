"""API tokens: created with a secret shown once and stored as a digest, authenticated in constant
time, revoked (announcing it after commit) in the web UI and the admin. tests/test_stomp_cluster.py
signs STOMP clients in with them on two real nodes."""

import re
import secrets

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from chat.domain import accounts, selectors, tokens
from chat.models import ApiToken
from chat.realtime import events, groups
from chat.transports.stomp import auth

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r'<code id="token-secret">([^<]+)</code>')


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "publish", lambda group, event: sent.append((group, event)))
    return sent


def signed_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_a_new_token_is_stored_only_as_a_digest(alice):
    token, secret = accounts.api_token_create(user=alice, name="Android")
    assert re.fullmatch(r"chat_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not any(secret in str(value) for value in row.values())
    assert secret.split("_", 2)[2] not in str(row)
    assert row["secret_hash"] == tokens.token_digest(secret) and row["prefix"] == secret.split("_")[1]


def test_the_right_secret_authenticates_and_nothing_else_does(alice, bob):
    token, secret = accounts.api_token_create(user=alice, name="cli")
    _, bobs = accounts.api_token_create(user=bob, name="cli")
    found = selectors.api_token_authenticate(secret=secret)
    assert found.pk == token.pk and found.user == alice
    assert selectors.api_token_authenticate(secret=bobs).user == bob
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for refused in (wrong, "garbage", "", secret.removeprefix("chat_"), secret + "x", secret.upper()):
        assert selectors.api_token_authenticate(secret=refused) is None, refused


def test_revoked_tokens_and_inactive_users_are_refused(alice, bob, published):
    token, secret = accounts.api_token_create(user=alice, name="cli")
    accounts.api_token_revoke(token=token)
    assert selectors.api_token_authenticate(secret=secret) is None
    _, bobs = accounts.api_token_create(user=bob, name="cli")
    bob.is_active = False
    bob.save()
    assert selectors.api_token_authenticate(secret=bobs) is None


def test_revoking_announces_to_the_users_group_after_commit(
    alice, published, django_capture_on_commit_callbacks
):
    token, _ = accounts.api_token_create(user=alice, name="cli")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        accounts.api_token_revoke(token=token)
    assert published == [] and len(callbacks) == 1
    callbacks[0]()
    assert published == [(groups.user_group(alice.pk), {"type": "chat.api_token_revoked", "token": token.pk})]
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_page_creates_a_token_shows_its_secret_once_and_revokes_it(alice, published):
    client = signed_in(alice)
    assert client.get("/accounts/tokens/").status_code == 200
    response = client.post("/accounts/tokens/", {"name": "My bot"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = SECRET_RE.search(response.content.decode()).group(1)
    token = selectors.api_token_authenticate(secret=secret)
    assert token.name == "My bot" and token.user == alice
    again = client.get("/accounts/tokens/").content.decode()
    assert secret not in again and "My bot" in again and token.prefix in again
    response = client.post(f"/accounts/tokens/{token.pk}/revoke")
    assert response.status_code == 302
    assert selectors.api_token_authenticate(secret=secret) is None


def test_the_page_is_linked_from_the_header_and_speaks_korean(alice):
    client = signed_in(alice)
    assert b'href="/accounts/tokens/"' in client.get("/").content
    korean = client.get("/accounts/tokens/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "API 토큰" in korean


def test_forms_need_the_csrf_token(alice):
    token, _ = accounts.api_token_create(user=alice, name="cli")
    client = signed_in(alice, csrf=True)
    assert client.post("/accounts/tokens/", {"name": "x"}).status_code == 403
    assert client.post(f"/accounts/tokens/{token.pk}/revoke").status_code == 403
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_another_users_token_cannot_be_revoked(alice, bob):
    token, secret = accounts.api_token_create(user=alice, name="cli")
    assert signed_in(bob).post(f"/accounts/tokens/{token.pk}/revoke").status_code == 404
    assert selectors.api_token_authenticate(secret=secret) is not None


def test_the_admin_lists_and_revokes_tokens_without_the_secret(make_user, alice, published):
    admin = make_user("root", is_staff=True, is_superuser=True)
    token, secret = accounts.api_token_create(user=alice, name="cli")
    client = signed_in(admin)
    page = client.get("/admin/chat/apitoken/").content.decode()
    assert token.prefix in page and secret not in page and token.secret_hash not in page
    detail = client.get(f"/admin/chat/apitoken/{token.pk}/change/").content.decode()
    assert token.secret_hash not in detail and secret not in detail
    response = client.post(
        "/admin/chat/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    assert selectors.api_token_authenticate(secret=secret) is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_failed_bearer_attempts_are_throttled_by_address(alice, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS, settings.LOGIN_FAILURE_LIMIT = 3, 1
    _, secret = await sync_to_async(accounts.api_token_create)(user=alice, name="cli")
    guesser, other = (f"192.0.2.{secrets.randbelow(250) + 1}", f"198.51.100.{secrets.randbelow(250) + 1}")
    for guess in ("Bearer nope", f"Bearer {secret[:-1]}x", secret):
        assert await auth.bearer(meta={"REMOTE_ADDR": guesser}, authorization=guess) is None
    # Locked out: the right token is refused from that address, and only from that one.
    assert await auth.bearer(meta={"REMOTE_ADDR": guesser}, authorization=f"Bearer {secret}") is None
    token = await auth.bearer(meta={"REMOTE_ADDR": other}, authorization=f"Bearer {secret}")
    assert token is not None and token.last_used_at is not None


async def stomp_connect(secret: str) -> WebsocketCommunicator:
    """An in-process STOMP WebSocket signed in with the token."""
    from config.asgi import application

    communicator = WebsocketCommunicator(
        application, "/stomp", headers=[(b"host", b"127.0.0.1:8000")], subprotocols=["v12.stomp"]
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(
        text_data=f"CONNECT\naccept-version:1.2\nAuthorization:Bearer {secret}\n\n\x00"
    )
    assert (await communicator.receive_from(5)).startswith("CONNECTED\n")
    return communicator


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[str, int]:
    """The last text frame before the server closed the socket, and the close code."""
    text = ""
    while True:
        output = await communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            return text, output["code"]
        text = output.get("text") or text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_token_revoked_without_an_event_is_closed_by_the_repair_tick(alice):
    token, secret = await sync_to_async(accounts.api_token_create)(user=alice, name="lost")
    _, kept_secret = await sync_to_async(accounts.api_token_create)(user=alice, name="kept")
    doomed, kept = await stomp_connect(secret), await stomp_connect(kept_secret)
    await sync_to_async(ApiToken.objects.filter(pk=token.pk).update)(revoked_at=timezone.now())  # no event
    text, code = await closed_with(doomed)
    assert code == 4401 and text.startswith("ERROR\n") and "message:not_signed_in" in text
    assert await kept.receive_nothing(1.0)  # past three ticks
    await kept.disconnect()
