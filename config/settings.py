"""Settings, read once from the environment (see docs/configuration in README.md)."""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.redis_url import parse_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS and DEBUG:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

# Every node of a cluster must use the same database and Redis: nothing that must be
# seen by another node lives in process memory.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'chat.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several local nodes write one file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock at BEGIN (no upgrade deadlocks), and the
    # timeout makes a writer wait for the lock instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DATABASES["default"]["NAME"] == ":memory:" else 600
    # Our subclass of the backend makes processes take the write lock in turn (chat/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "chat.sqlite"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# redis-py 8 defaults socket_timeout to 5 s, which makes idle pub/sub reads fail
# (channels_redis issue 422); the channel layer must wait for messages forever.
REDIS_CONNECTION_OPTIONS = {
    "socket_timeout": None,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 15,
}

# One server, several (comma-separated: the channel layer shards groups over them; presence and
# the SockJS session owners use the first; the rate limit is counted in the database), or Sentinel (redis+sentinel://host:26379,host2:26379/mymaster).
REDIS = parse_redis_url(REDIS_URL, REDIS_CONNECTION_OPTIONS)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "chat.realtime.layer.ClusterChannelLayer",
        "CONFIG": {
            "hosts": REDIS.channel_layer_hosts(),
            "prefix": os.environ.get("CHAT_CHANNEL_PREFIX", "chat"),
        },
    }
}

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "axes",
    "chat",
    # Only registers a system check: the private names of other libraries that we rely on (config/compat.py).
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as axes asks: turns a refused login into the lockout page (config/login_throttle.py).
    "axes.middleware.AxesMiddleware",
]

# No inline script or style anywhere: every script is a static file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# axes' backend first: it refuses a throttled login before any password is checked. It needs the
# request: call authenticate(request, ...), or login(request, user, backend=...) without it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Sessions live in the shared database, so a login made on one node is valid on all.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lobby"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
# Hashed file names (collectstatic) served with far-future cache headers by WhiteNoise.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Uploads (chat/domain/attachments.py). Every node must see the same files: a directory shared by the
# nodes (CHAT_UPLOAD_ROOT, var/uploads by default), or an S3-compatible bucket through django-storages
# with CHAT_UPLOAD_STORAGE=s3 and the AWS_* variables below (install django-storages[s3] first).
CHAT_UPLOAD_ROOT = Path(os.environ.get("CHAT_UPLOAD_ROOT", BASE_DIR / "var" / "uploads"))
if os.environ.get("CHAT_UPLOAD_STORAGE", "filesystem") == "s3":
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No base_url: files are served only by chat/web/files.py, which checks who may read them.
        "OPTIONS": {"location": str(CHAT_UPLOAD_ROOT), "directory_permissions_mode": 0o700},
    }
# Bytes per file; bytes of files per user (sent or not); files per message; the longest image
# side in pixels times the other (larger images are refused as decompression bombs); thumbnails' box;
# hours after which an upload never sent is swept (manage.py chat_sweep_uploads).
CHAT_UPLOAD_MAX_BYTES = env_int("CHAT_UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
CHAT_UPLOAD_QUOTA_BYTES = env_int("CHAT_UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024)
# The largest request body a node reads (an upload and its multipart framing): config/server.py
# answers 413 to a larger one before reading it; set the proxy's limit to match (deploy/nginx.conf).
CHAT_REQUEST_MAX_BYTES = env_int("CHAT_REQUEST_MAX_BYTES", CHAT_UPLOAD_MAX_BYTES + 64 * 1024)
CHAT_ATTACHMENTS_PER_MESSAGE = 10
CHAT_UPLOAD_MAX_PIXELS = env_int("CHAT_UPLOAD_MAX_PIXELS", 50_000_000)
# An animated GIF or WebP is re-encoded frame by frame (to drop its metadata): pixels over all frames.
CHAT_UPLOAD_MAX_ANIMATION_PIXELS = env_int("CHAT_UPLOAD_MAX_ANIMATION_PIXELS", 25_000_000)
CHAT_THUMBNAIL_SIZE = 400
CHAT_UPLOAD_ORPHAN_HOURS = env_int("CHAT_UPLOAD_ORPHAN_HOURS", 24)
# Profiles (chat/domain/profiles.py): an avatar upload's limit (the other upload rules are the
# attachments'), the squares an avatar is resized to; users per `users.fetch` frame, and how many
# users one connection follows for `user.updated` before it is sent every user's updates instead.
CHAT_AVATAR_MAX_BYTES = env_int("CHAT_AVATAR_MAX_BYTES", 5 * 1024 * 1024)
CHAT_AVATAR_SIZES = (256, 64)
CHAT_USERS_FETCH_MAX = 100
CHAT_USERS_WATCH_MAX = 1000
# At most this many users answer a `users.search` (the direct-message picker's suggestions).
CHAT_USERS_SEARCH_MAX = 20
# Types accepted, as detected from the content (never from the name or the client's header). The
# images among them are shown inline; everything else is served as a download.
CHAT_UPLOAD_TYPES = [
    t.strip()
    for t in os.environ.get(
        "CHAT_UPLOAD_TYPES",
        "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,application/zip,"
        "application/gzip,audio/mpeg,audio/ogg,video/mp4,video/webm",
    ).split(",")
    if t.strip()
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTTPS=1 for a deployment behind TLS (usually a proxy that sets X-Forwarded-Proto):
# secure cookies, redirect to https, HSTS. `manage.py check --deploy` is clean with it.
HTTPS = env_bool("HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Asking browsers to preload HSTS for the domain (and every subdomain) is hard to undo, so it is a
# choice of its own: HSTS_PRELOAD=1 (with HTTPS=1) adds `preload` to the header.
SECURE_HSTS_PRELOAD = HTTPS and env_bool("HSTS_PRELOAD")
if HTTPS and not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "SECURE_HSTS_PRELOAD is not True": on purpose
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# The proxies (comma-separated networks, e.g. 127.0.0.1/32 for nginx on the same machine) whose
# X-Forwarded-For header tells the client's address to the login throttle and /metrics
# (config/client_address.py). Empty (the default): the header is ignored, the peer is the client.
TRUSTED_PROXIES = [
    ipaddress.ip_network(n.strip()) for n in os.environ.get("TRUSTED_PROXIES", "").split(",") if n.strip()
]

# Login throttling (config/login_throttle.py explains the three limits): failed logins are counted
# in the database, so across nodes, until LOGIN_COOLOFF seconds pass without one.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)  # one username from one address
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 30)  # 0: no limit
LOGIN_FAILURE_LIMIT_PER_USERNAME = env_int("LOGIN_FAILURE_LIMIT_PER_USERNAME", 100)  # 0: no limit
LOGIN_COOLOFF = env_int("LOGIN_COOLOFF", 900)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_COOLOFF < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF must be at least 1.")
LOGIN_THROTTLE_LIMITS = {
    parameters: limit
    for parameters, limit in {
        ("username", "ip_address"): LOGIN_FAILURE_LIMIT,
        ("ip_address",): LOGIN_FAILURE_LIMIT_PER_ADDRESS,
        ("username",): LOGIN_FAILURE_LIMIT_PER_USERNAME,
    }.items()
    if limit > 0
}
AXES_LOCKOUT_PARAMETERS = [list(parameters) for parameters in LOGIN_THROTTLE_LIMITS]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF)
AXES_HANDLER = "config.login_throttle.TieredDatabaseHandler"
AXES_CLIENT_IP_CALLABLE = "config.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "config.login_throttle.lockout_response"
# Attempts made while refused neither count nor extend the cool-off (so no address adds more than
# LOGIN_FAILURE_LIMIT to a username's count), and no row is written per successful login.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True

# Chat limits; docs/protocol.md documents each of them.
CHAT_MAX_BODY_CHARS = 4000
CHAT_HISTORY_PAGE = 50
CHAT_HISTORY_MAX_PAGE = 100
CHAT_CATCHUP_LIMIT = env_int("CHAT_CATCHUP_LIMIT", 1000)
CHAT_MAX_SUBSCRIPTIONS = 200
# Connections per user on all nodes together (chat/realtime/slots.py): WebSockets (/ws/ and SockJS'
# WebSocket), and SockJS sessions over HTTP, which outlive a closed tab by CHAT_SOCKJS_DISCONNECT_DELAY.
# One more is accepted and closed with 4409.
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 20)
CHAT_MAX_SOCKJS_SESSIONS_PER_USER = env_int("CHAT_MAX_SOCKJS_SESSIONS_PER_USER", 10)
# Rooms a user (not staff) may create per window, counted in the database; the admin is not limited.
CHAT_ROOM_CREATE_LIMIT = env_int("CHAT_ROOM_CREATE_LIMIT", 10)
CHAT_ROOM_CREATE_WINDOW = env_int("CHAT_ROOM_CREATE_WINDOW", 3600)
# Most members of a direct-message conversation, its opener included (docs/rooms.md).
CHAT_DM_MAX_MEMBERS = env_int("CHAT_DM_MAX_MEMBERS", 9)
CHAT_RATE_LIMIT_MESSAGES = env_int("CHAT_RATE_LIMIT_MESSAGES", 30)
CHAT_RATE_LIMIT_WINDOW = env_int("CHAT_RATE_LIMIT_WINDOW", 10)
# Message changes (docs/protocol.md, "Changing messages"): an author edits a message for this long
# (admins at any time); edits, deletions and reactions per user per window; distinct emoji per message.
CHAT_EDIT_WINDOW = env_int("CHAT_EDIT_WINDOW", 24 * 3600)
CHAT_CHANGE_RATE_LIMIT = env_int("CHAT_CHANGE_RATE_LIMIT", 60)
CHAT_CHANGE_RATE_WINDOW = env_int("CHAT_CHANGE_RATE_WINDOW", 60)
CHAT_REACTIONS_MAX_DISTINCT = env_int("CHAT_REACTIONS_MAX_DISTINCT", 20)
# Replies returned by one thread.fetch.
CHAT_THREAD_PAGE = env_int("CHAT_THREAD_PAGE", 100)
# Earlier versions returned by one edits.fetch (the newest), and edits.fetch frames per user per minute.
CHAT_EDITS_PAGE = env_int("CHAT_EDITS_PAGE", 50)
CHAT_EDITS_RATE_LIMIT = env_int("CHAT_EDITS_RATE_LIMIT", 30)
# Search (docs/protocol.md, "Search"): the longest query, results per page (default and most), how deep
# a cursor may page, and a bound on one search's database time (PostgreSQL's statement_timeout).
CHAT_SEARCH_MAX_QUERY_CHARS = env_int("CHAT_SEARCH_MAX_QUERY_CHARS", 256)
CHAT_SEARCH_PAGE = env_int("CHAT_SEARCH_PAGE", 20)
CHAT_SEARCH_MAX_PAGE = 50
CHAT_SEARCH_MAX_OFFSET = env_int("CHAT_SEARCH_MAX_OFFSET", 1000)
# PostgreSQL's `relevance` ranks this many of the newest matches, and its pages end there
# (chat/domain/search.py says why).
CHAT_SEARCH_RANKED = env_int("CHAT_SEARCH_RANKED", 100)
CHAT_SEARCH_TIMEOUT_MS = env_int("CHAT_SEARCH_TIMEOUT_MS", 2000)
# Searches per user per window, across nodes (chat/protocol/searching.py): of messages, and of people
# (the "New message" picker asks as the user types); and the threads each node runs them on, apart
# from its database thread (each holds a database connection).
CHAT_SEARCH_RATE_LIMIT = env_int("CHAT_SEARCH_RATE_LIMIT", 30)
CHAT_USERS_SEARCH_RATE_LIMIT = env_int("CHAT_USERS_SEARCH_RATE_LIMIT", 120)
CHAT_SEARCH_RATE_WINDOW = env_int("CHAT_SEARCH_RATE_WINDOW", 60)
CHAT_SEARCH_THREADS = env_int("CHAT_SEARCH_THREADS", 2)
# Seconds between the per-node checks that repair a lost broadcast from the database.
CHAT_REPAIR_INTERVAL = float(os.environ.get("CHAT_REPAIR_INTERVAL", "1.0"))
# Seconds a live message that arrived ahead of a missing one waits for it before the gap is read
# from the database (chat/protocol/cursor.py).
CHAT_GAP_WAIT = float(os.environ.get("CHAT_GAP_WAIT", "0.1"))
# Read positions (chat/domain/read_coalescing.py): each node writes the `read` frames it received
# in one statement at most every READ_FLUSH_INTERVAL seconds (read.updated reaches the user's other
# connections within about this long); unread and mention counts stop at UNREAD_MAX ("99+").
CHAT_READ_FLUSH_INTERVAL = float(os.environ.get("CHAT_READ_FLUSH_INTERVAL", "0.5"))
CHAT_UNREAD_MAX = 100

# Presence: entries expire after TTL unless their node refreshes them every HEARTBEAT
# seconds; each node looks for changes every POLL seconds.
CHAT_PRESENCE_TTL = env_int("CHAT_PRESENCE_TTL", 25)
CHAT_PRESENCE_HEARTBEAT = env_int("CHAT_PRESENCE_HEARTBEAT", 8)
CHAT_PRESENCE_POLL = float(os.environ.get("CHAT_PRESENCE_POLL", "1.0"))
# An open member list asks again this often (seconds): "away" (connected, elsewhere) and "offline"
# change with no `presence` frame of the room (docs/protocol.md, room.members). At least 1 s.
CHAT_MEMBERS_REFRESH = max(1.0, float(os.environ.get("CHAT_MEMBERS_REFRESH", "30")))
# Typing events: at most one relayed per connection and room per interval; dropped first
# when a connection has more than SHED_BACKLOG events waiting.
CHAT_TYPING_INTERVAL = 2.0
CHAT_SHED_BACKLOG = 100

# SockJS fallback (docs/protocol.md, "SockJS"): heartbeat and session timeout as the protocol
# suggests; a streaming response is ended after RESPONSE_LIMIT bytes so browsers free its memory;
# one xhr_send body may carry at most SEND_MAX_BYTES; the conformance suite's test services are
# mounted only when SOCKJS_CONFORMANCE=1.
CHAT_SOCKJS_HEARTBEAT = float(os.environ.get("CHAT_SOCKJS_HEARTBEAT", "25"))
CHAT_SOCKJS_DISCONNECT_DELAY = float(os.environ.get("CHAT_SOCKJS_DISCONNECT_DELAY", "5"))
CHAT_SOCKJS_RESPONSE_LIMIT = env_int("CHAT_SOCKJS_RESPONSE_LIMIT", 128 * 1024)
CHAT_SOCKJS_SEND_MAX_BYTES = env_int("CHAT_SOCKJS_SEND_MAX_BYTES", 64 * 1024)
# Bytes a session may hold for a client that is not fetching them before it is closed (4408);
# above the largest history page (about 1.2 MB).
CHAT_SOCKJS_OUTBOX_LIMIT = env_int("CHAT_SOCKJS_OUTBOX_LIMIT", 4 * 1024 * 1024)
SOCKJS_CONFORMANCE = os.environ.get("SOCKJS_CONFORMANCE") == "1"

# STOMP 1.0-1.2 (docs/stomp.md): the endpoint's path (WebSocket at <path> and <path>/websocket,
# SockJS under <path>), the destination table's prefixes (the defaults cover the three common
# tutorial layouts), the public room (created on first use), and the heart-beat the server offers
# and asks for, in milliseconds.
CHAT_STOMP_PATH = "/" + os.environ.get("CHAT_STOMP_PATH", "/stomp").strip("/")
CHAT_STOMP_ROOM_PREFIXES = ["/topic/chat/room/", "/sub/chat/room/"]
CHAT_STOMP_ROOM_SEND = ["/app/chat/message", "/pub/chat/message"]
CHAT_STOMP_PUBLIC_TOPIC = "/topic/public"
CHAT_STOMP_PUBLIC_SEND = ["/app/chat.sendMessage"]
CHAT_STOMP_NOTIFICATIONS = "/user/queue/notifications"
CHAT_STOMP_PUBLIC_ROOM = os.environ.get("CHAT_STOMP_PUBLIC_ROOM", "public")
CHAT_STOMP_HEARTBEAT = env_int("CHAT_STOMP_HEARTBEAT", 10_000)

# /metrics: a bearer token, or clients from these networks (default: this machine only).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(n.strip())
    for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128").split(",")
    if n.strip()
]

# Logs: plain text, or one JSON object per line with LOG_FORMAT=json; every record carries the
# node's name (CHAT_NODE_NAME, set by the cluster runner) so that several nodes' logs can be merged.
NODE_NAME = os.environ.get("CHAT_NODE_NAME", "node")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"node": {"()": "config.logging.NodeNameFilter", "node": NODE_NAME}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(node)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(node)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT") == "json" else "plain",
            "filters": ["node"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
