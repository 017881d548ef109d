"""Settings for the test run: the real settings with test-only values from the environment."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
_db_dir = tempfile.mkdtemp(prefix="chat-test-db-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_db_dir}/chat.sqlite3")

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES, STORAGES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "chat.sqlite":
    # A file, not :memory:, so that the consumer's database thread and test threads share it.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = f"{_db_dir}/test.sqlite3"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
CHAT_REPAIR_INTERVAL = 0.3
STATIC_ROOT = f"{_db_dir}/static"
os.makedirs(STATIC_ROOT, exist_ok=True)
WHITENOISE_USE_FINDERS = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
CHAT_PRESENCE_POLL = 0.2
CHAT_UPLOAD_ROOT = f"{_db_dir}/uploads"
STORAGES["attachments"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": CHAT_UPLOAD_ROOT},
}
