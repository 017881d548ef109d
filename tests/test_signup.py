"""Sign-up: NFKC-normalised usernames, one script per name, and the login that follows it."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from chat.domain.usernames import is_single_script
from chat.web.forms import SignUpForm
from tests.conftest import open_socket

PASSWORD = "correct-horse-battery-9"


def signup_form(username: str) -> SignUpForm:
    return SignUpForm({"username": username, "password1": PASSWORD, "password2": PASSWORD})


@pytest.mark.parametrize(
    "username",
    [
        "alice",
        "alice_2.k@x+y-z",
        "김철수",  # Hangul
        "김철수kim77",  # Hangul with Latin and digits (Korean)
        "金哲秀김",  # Han with Hangul (Korean)
        "さくらサクラ桜sakura",  # Hiragana, Katakana, Han, Latin (Japanese)
        "ㄅㄆ王wang",  # Bopomofo, Han, Latin (Chinese)
        "Иван",  # one script: Cyrillic
        "Ιωάννης",  # one script: Greek
        "สมชาย",  # one script: Thai
    ],
)
def test_single_script_names_are_accepted(username):
    assert is_single_script(username)


@pytest.mark.parametrize(
    "username",
    [
        "\u0430dmin",  # Cyrillic а + Latin "dmin": looks exactly like "admin"
        "p\u0430yp\u0430l",  # Cyrillic а twice
        "\u03bfpera",  # Greek omicron + Latin
        "admin\u0661",  # Latin + an Arabic-Indic digit
        "김철수Иван",  # Hangul + Cyrillic
        "さくら김",  # Hiragana + Hangul: no language writes these together
        "\U00010300",  # Old Italic: not a script in use
    ],
)
def test_mixed_script_names_are_refused(username):
    assert not is_single_script(username)


@pytest.mark.django_db
def test_a_confusable_name_is_refused_at_sign_up_with_a_readable_message():
    form = signup_form("\u0430dmin")
    assert not form.is_valid()
    assert form.has_error("username", "mixed_script")
    assert "one writing system" in form.errors["username"][0]
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_the_name_is_nfkc_normalised_before_it_is_checked_and_stored():
    form = signup_form("ｋｉｍ１２")  # fullwidth Latin and digits
    assert form.is_valid(), form.errors
    assert form.save().username == "kim12"
    # The normalised form collides with the stored one, whatever the case.
    for twin in ("kim12", "ＫＩＭ１２", "Kim12"):
        duplicate = signup_form(twin)
        assert not duplicate.is_valid() and duplicate.has_error("username", "unique"), twin


@pytest.mark.django_db
def test_hangul_jamo_are_composed_into_syllables():
    form = signup_form("\u1100\u1161\u11a8")  # conjoining jamo ᄀ ᅡ ᆨ
    assert form.is_valid(), form.errors
    assert form.save().username == "각"


@pytest.mark.django_db(transaction=True)
async def test_sign_up_logs_in_and_the_session_opens_a_socket():
    from asgiref.sync import sync_to_async

    client = Client()
    response = await sync_to_async(client.post)(
        "/accounts/signup/", {"username": "새사용자", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert (await sync_to_async(client.get)("/")).status_code == 200  # logged in
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    connected, sock = await open_socket(cookie=cookie)
    assert connected, sock
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}
    await sock.close()


@pytest.mark.django_db
def test_the_refusal_is_translated_to_korean():
    response = Client(headers={"accept-language": "ko"}).post(
        "/accounts/signup/", {"username": "\u0430dmin", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 200
    assert "한 가지 문자 체계의 글자만 쓰세요" in response.content.decode()
