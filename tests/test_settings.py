"""Production settings pass Django's deployment checklist; a missing secret fails loudly."""

import os
import subprocess
import sys

from chat.devcluster import BASE_DIR

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "0",
    "HTTPS": "1",
    "SECRET_KEY": "k7#Qv9!zR2@mW4$pL8^tY1&uE6*oI3(aS5)dF0-gH_jK+lZ=xC~bN",
    "ALLOWED_HOSTS": "chat.example.org",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_missing_secret_key_fails_loudly_without_debug():
    result = manage("check", env={k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def hsts_header(env: dict[str, str]) -> str:
    """The Strict-Transport-Security header of an https response under these settings."""
    code = (
        "from django.test import Client; "
        "r = Client().get('/healthz', secure=True, headers={'host': 'chat.example.org'}); "
        "print(r.status_code, r.headers.get('Strict-Transport-Security'))"
    )
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    status, header = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "200"
    return header


def test_hsts_preload_is_opt_in():
    assert hsts_header(PRODUCTION) == "max-age=31536000; includeSubDomains"
    preload = {**PRODUCTION, "HSTS_PRELOAD": "1"}
    assert hsts_header(preload) == "max-age=31536000; includeSubDomains; preload"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=preload)
    assert result.returncode == 0 and "no issues" in result.stdout, result.stdout + result.stderr
