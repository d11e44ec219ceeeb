"""Settings for Orchestra Hub.

Every knob is an ``ORCHESTRA_*`` environment variable read through one ``environ.Env``; the
defaults boot a complete one-process hub (SQLite + in-memory channel layer) with no configuration.
A bad value fails loudly at start-up. ``.env.example`` lists them all; so does the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from orchestra_site.durations import parse_duration

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


# Each reader stops start-up with one line naming the variable, its value and what is allowed.
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _bad(name: str, raw: str, allowed: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={raw!r} is not valid: {allowed}.")


def _int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.str(name, default=str(default)).strip()
    bounds = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, raw, bounds) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise _bad(name, raw, bounds)
    return value


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=str(default).lower()).strip()
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _bad(name, raw, f"one of {', '.join(_TRUE)} or {', '.join(_FALSE)}")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.str(name, default=default).strip()
    if raw not in choices:
        raise _bad(name, raw, f"one of {', '.join(choices)}")
    return raw


def _duration(name: str, default: str) -> float:
    raw = env.str(name, default=default)
    try:
        seconds = parse_duration(raw).total_seconds()
    except ValueError:
        raise _bad(name, raw, "a duration such as 30s, 15m, 24h or 7d") from None
    if seconds <= 0:
        raise _bad(name, raw, "a duration greater than zero")
    return seconds


def _usd_or_none(name: str, *, maximum: float = 1_000_000) -> float | None:
    raw = env.str(name, default="").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, raw, f"an amount of USD greater than 0 and at most {maximum:g}") from None
    if not 0 < value <= maximum:
        raise _bad(name, raw, f"an amount of USD greater than 0 and at most {maximum:g}")
    return value


def _token_prices(name: str, default: str) -> tuple[float, float]:
    raw = env.str(name, default=default).strip()
    allowed = "two amounts of USD per million tokens, input then output, such as 3,15"
    try:
        prices = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise _bad(name, raw, allowed) from None
    if len(prices) != 2 or not all(0 <= price <= 10_000 for price in prices):
        raise _bad(name, raw, allowed)
    return prices[0], prices[1]


def _path_list(name: str, default: list[str]) -> list[Path]:
    paths = [Path(p).expanduser() for p in env.list(name, default=default) if p]
    for path in paths:
        if not path.is_absolute():
            raise _bad(name, env.str(name), "comma-separated absolute paths")
    return paths


# --- Where the hub keeps its files -------------------------------------------------------------
# The data dir holds the database, its WAL, the secret key and the agents' default folders. The
# settings only name it: ``manage.py`` creates it, private to its owner, before any command runs
# (``orchestra_site/data_dir.py``), and generates the secret key there on the first start.
DATA_DIR = Path(env.str("ORCHESTRA_DATA_DIR", default=str(BASE_DIR / "var"))).expanduser()


def _key_file_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:  # not made yet (the first start makes it), or unreadable (start-up says so)
        return ""


SECRET_KEY = env.str("ORCHESTRA_SECRET_KEY", default="")
# Where the generated key lives; None when ORCHESTRA_SECRET_KEY sets one.
SECRET_KEY_FILE: Path | None = None if SECRET_KEY else DATA_DIR / "secret_key"
if SECRET_KEY_FILE is not None:
    SECRET_KEY = _key_file_text(SECRET_KEY_FILE)
DEBUG = _bool("ORCHESTRA_DEBUG", False)
HUB_HOST = env.str("ORCHESTRA_HOST", default="127.0.0.1")
HUB_PORT = _int("ORCHESTRA_PORT", 8000, minimum=1, maximum=65535)
# Hub worker processes answering HTTP and WebSockets on that one port (``serve --workers N``).
WORKERS = _int("ORCHESTRA_WORKERS", 1, minimum=1, maximum=64)
# The names a loopback client uses. Loopback trust needs one of them in ``Host`` as well as a
# loopback address, so a page that rebinds its own name to 127.0.0.1 is never trusted.
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
_NOT_A_NAME = ("", "0.0.0.0", "::", "[::]", *LOOPBACK_HOSTS)
_LISTEN_NAME = [HUB_HOST.lower()] if HUB_HOST.lower() not in _NOT_A_NAME else []
ALLOWED_HOSTS = env.list("ORCHESTRA_ALLOWED_HOSTS", default=LOOPBACK_HOSTS + _LISTEN_NAME)
HUB_VERSION = "2.0.0"

# --- Apps ----------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "orchestra_site",
    "orchestration",
    "projects",
    "agents",
]

MIDDLEWARE = [
    "orchestra_site.security.hosts.HostAndOriginMiddleware",
    "orchestra_site.security.cors.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "orchestra_site.api.errors.JsonErrorMiddleware",
]

ROOT_URLCONF = "orchestra_site.urls"
ASGI_APPLICATION = "orchestra_site.asgi.application"
WSGI_APPLICATION = None
# The desktop app's paths have no trailing slash and a redirect breaks its POST/PATCH/DELETE.
APPEND_SLASH = False

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

# --- Database ------------------------------------------------------------------------------------
# How long a transaction may sit idle, and a statement wait for a row lock, on PostgreSQL.
DB_IDLE_IN_TRANSACTION_TIMEOUT = _duration("ORCHESTRA_DB_IDLE_IN_TRANSACTION_TIMEOUT", "10s")
DB_LOCK_TIMEOUT = _duration("ORCHESTRA_DB_LOCK_TIMEOUT", "15s")
DATABASES = {"default": env.db_url("ORCHESTRA_DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'orchestra.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, with this process's writers queued for the write lock in the process
    # instead of sleeping in SQLite's busy handler (orchestra_site/db/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "orchestra_site.db.sqlite3"
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN, so a
    # transaction that reads then writes (lock a row, then update it) never fails half-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # HTTP requests run on a fixed pool of threads (orchestra_site.asgi_handler): each keeps its
    # connection instead of opening the file and running the PRAGMAs again for every request.
    # Threads that come and go (sockets, agents' workers) close theirs when they end.
    DATABASES["default"]["CONN_MAX_AGE"] = None
else:
    # Socket consumers, the runner and its agents' workers run in threads that come and go, so
    # persistent per-thread connections (CONN_MAX_AGE) would pile up; a pool per process reuses a
    # few connections instead.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": _int("ORCHESTRA_DB_POOL_SIZE", 10, minimum=1),
        "timeout": 30,
    }
    # Waits are bounded, so a process that vanishes (killed, cut off) frees its locks in seconds:
    # the server ends a transaction left idle, a lock wait gives up (the runner retries next
    # cycle), and TCP keepalives find a dead peer in about 10 s instead of the kernel's 2 hours.
    DATABASES["default"]["OPTIONS"].update(
        {
            "options": " ".join(
                f"-c {name}={value}"
                for name, value in {
                    "idle_in_transaction_session_timeout": f"{DB_IDLE_IN_TRANSACTION_TIMEOUT * 1000:.0f}",
                    "lock_timeout": f"{DB_LOCK_TIMEOUT * 1000:.0f}",
                    # The server's side of the same keepalives: a vanished client's locks go too.
                    "tcp_keepalives_idle": "5",
                    "tcp_keepalives_interval": "2",
                    "tcp_keepalives_count": "3",
                }.items()
            ),
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 15000,
        }
    )
    # The pool checks a connection before handing it out: one the server dropped (a restart) is
    # replaced there, not discovered by the request or the runner that gets it.
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer -------------------------------------------------------------------------------
REDIS_URL = env.str("ORCHESTRA_REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's default 5 s socket timeout equals channels-redis' 5 s blocking read: on an
            # idle layer the read would time out first and kill the reader. Give it room.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 10000,
                "expiry": 30,
                # Several hubs (or test runs) may share one Redis: each keeps to its own keys.
                "prefix": env.str("ORCHESTRA_REDIS_PREFIX", default="orchestra"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# --- The HTTP edge (orchestra_site/security/edge.py, orchestra_site/asgi_server.py) ----------------
# The largest request body, in bytes. A larger ``Content-Length`` is refused from the headers, a
# chunked body as soon as it passes the limit; bodies are held in memory, never in a temporary file.
MAX_REQUEST_BODY = _int("ORCHESTRA_MAX_REQUEST_BODY", 2_621_440, minimum=1024, maximum=1024**3)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY
# A connection that has not sent a request's complete headers within this is closed.
HEADER_TIMEOUT = _duration("ORCHESTRA_HEADER_TIMEOUT", "10s")
# Open connections (HTTP and WebSocket) per ``serve`` process; 0 sizes it from the open-file limit.
MAX_CONNECTIONS = _int("ORCHESTRA_MAX_CONNECTIONS", 0)
# Open connections from one client address per ``serve`` process; 0 for no per-client cap. Loopback
# clients are held to the total only (everyone through the SSH tunnel arrives from 127.0.0.1).
MAX_CONNECTIONS_PER_CLIENT = _int("ORCHESTRA_MAX_CONNECTIONS_PER_CLIENT", 256)

# --- Authentication ------------------------------------------------------------------------------
TRUST_LOOPBACK = _bool("ORCHESTRA_TRUST_LOOPBACK", True)

DESKTOP_ORIGINS = [
    "http://localhost:1420",
    "http://localhost:5173",
    "tauri://localhost",
    "https://tauri.localhost",
]
CORS_ALLOWED_ORIGINS = DESKTOP_ORIGINS + env.list("ORCHESTRA_CORS_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = ["*"]
CORS_ALLOW_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orchestra_site.security.auth.ApiKeyAuthentication",
        "orchestra_site.security.auth.LoopbackAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["orchestra_site.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "orchestra_site.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Orchestra Hub API",
    "DESCRIPTION": "Workspace orchestration, projects and DAG workflows, agent templates and executions.",
    "VERSION": HUB_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the pinned drf-spectacular-sidecar package, served by the hub (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "NodeStatusEnum": "projects.models.NodeStatus",
        "RunStatusEnum": "projects.models.RunStatus",
        "DeliverableStatusEnum": "projects.models.DeliverableStatus",
        "ExecutionStatusEnum": "agents.models.ExecutionStatus",
        "StepRunStatusEnum": "agents.models.StepRunStatus",
        "AgentTypeEnum": "projects.models.AgentType",
        "OutputFormatEnum": "agents.models.OutputFormat",
    },
}

# --- Orchestration -------------------------------------------------------------------------------
MAX_DESIRED = _int("ORCHESTRA_MAX_DESIRED", 20, maximum=10_000)
MAX_REPORTED_RUNNING = _int("ORCHESTRA_MAX_REPORTED_RUNNING", 1000, maximum=1_000_000)
WORKSPACE_TTL = _duration("ORCHESTRA_WORKSPACE_TTL", "24h")
PRUNE_INTERVAL = _duration("ORCHESTRA_PRUNE_INTERVAL", "1h")

# --- Projects and agents -------------------------------------------------------------------------
WORKSPACES_DIR = Path(env.str("ORCHESTRA_WORKSPACES_DIR", default=str(DATA_DIR / "workspaces"))).expanduser()
WORKSPACE_ROOTS = _path_list("ORCHESTRA_WORKSPACE_ROOTS", [str(WORKSPACES_DIR)])
WORKTREES_DIR = Path(env.str("ORCHESTRA_WORKTREES_DIR", default=str(DATA_DIR / "worktrees"))).expanduser()
DEFAULT_DESIRED = _int("ORCHESTRA_DEFAULT_DESIRED", 1, maximum=MAX_DESIRED)
MAX_RUNNING = _int("ORCHESTRA_MAX_RUNNING", 8)
STEP_TIMEOUT = _duration("ORCHESTRA_STEP_TIMEOUT", "1h")
# The pipeline Run → Start Workflow runs (phases' agents, prompts, threshold, retries); empty: the
# built-in agents/builtin_pipelines/default.md.
PIPELINE_FILE = env.str("ORCHESTRA_PIPELINE_FILE", default="") or None
STEP_IDLE_TIMEOUT = _duration("ORCHESTRA_STEP_IDLE_TIMEOUT", "10m")
# What one agent may print: a longer line is cut (and marked), a step that prints more is stopped.
AGENT_LINE_MAX_BYTES = _int("ORCHESTRA_AGENT_LINE_MAX_BYTES", 1024 * 1024, minimum=1024, maximum=64 * 1024 * 1024)
AGENT_OUTPUT_MAX_BYTES = _int("ORCHESTRA_AGENT_OUTPUT_MAX_BYTES", 64 * 1024 * 1024, minimum=1024)
CANCEL_GRACE = _duration("ORCHESTRA_CANCEL_GRACE", "10s")
# Budgets (agents/budgets.py): what a workspace's agents may spend per UTC day (unset: no limit), and
# the price that turns tokens into USD for a CLI that reports tokens but no cost (codex, gemini).
WORKSPACE_DAILY_BUDGET_USD = _usd_or_none("ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD")
TOKEN_PRICE_USD_PER_MILLION = _token_prices("ORCHESTRA_TOKEN_PRICE_USD_PER_MILLION", "3,15")
# Review and landing: the patch an execution's diff answers at most, and how long the worktree of a
# merged or discarded execution is kept (its branch is always kept).
DIFF_MAX_BYTES = _int("ORCHESTRA_DIFF_MAX_BYTES", 1024 * 1024, minimum=1024)
WORKTREE_RETENTION = _duration("ORCHESTRA_WORKTREE_RETENTION", "7d")
RUNNER_HEARTBEAT = _duration("ORCHESTRA_RUNNER_HEARTBEAT", "5s")
RUNNER_DEAD_AFTER = _duration("ORCHESTRA_RUNNER_DEAD_AFTER", "30s")
# The runner and the outbox relay sleep until a commit wakes them (orchestra_site/wakeups.py), and
# at the latest after this: a lost wake-up delays work by at most this long, never loses it.
WAKEUP_TIMEOUT = _duration("ORCHESTRA_WAKEUP_TIMEOUT", "10s")
AGENT_ENV_PASSTHROUGH = env.list("ORCHESTRA_AGENT_ENV_PASSTHROUGH", default=[])
# Names a template may set beyond the few harmless ones (agents/environment.py). Never an endpoint
# or a proxy: where the owner's credentials are sent stays the operator's choice alone.
AGENT_ENV_ALLOWED = [name for name in env.list("ORCHESTRA_AGENT_ENV_ALLOWED", default=[]) if name]
if any(
    not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name)
    or re.fullmatch(r"(?i).*(URL|URI|ENDPOINT|PROXY|HOST|API_BASE)", name)
    for name in AGENT_ENV_ALLOWED
):
    raise _bad(
        "ORCHESTRA_AGENT_ENV_ALLOWED",
        env.str("ORCHESTRA_AGENT_ENV_ALLOWED"),
        "comma-separated variable names, none an endpoint or a proxy (…_URL, …_ENDPOINT, …_PROXY, …_HOST)",
    )
AGENT_BIN_DIR = env.str("ORCHESTRA_AGENT_BIN_DIR", default=str(BASE_DIR / "node_modules" / ".bin"))
CUSTOM_AGENT_COMMAND = env.list("ORCHESTRA_CUSTOM_AGENT_COMMAND", default=[])
if CUSTOM_AGENT_COMMAND and (not CUSTOM_AGENT_COMMAND[0] or CUSTOM_AGENT_COMMAND[1:].count("{prompt}") != 1):
    raise _bad(
        "ORCHESTRA_CUSTOM_AGENT_COMMAND",
        env.str("ORCHESTRA_CUSTOM_AGENT_COMMAND"),
        "a comma-separated argv whose program comes first and one later element is exactly {prompt}",
    )
PLANNER_AGENT = _choice("ORCHESTRA_PLANNER_AGENT", "claude", ("claude", "codex", "gemini", "custom"))
# Plans at once per hub process; more are answered 429. Plans run on threads of their own
# (orchestra_site.asgi_handler.AGENT_REQUEST_PATHS), never on the HTTP threads other requests use.
PLAN_CONCURRENCY = _int("ORCHESTRA_PLAN_CONCURRENCY", 2, minimum=1, maximum=16)
# Deliverables and hooks: the largest deliverable content stored (UTF-8 bytes), and how long one
# hook's regex checks may run (in a child process that is killed after it) before they count as failed.
DELIVERABLE_MAX_BYTES = _int("ORCHESTRA_DELIVERABLE_MAX_BYTES", 1024 * 1024, minimum=1024, maximum=256 * 1024 * 1024)
HOOK_MATCH_TIMEOUT = _duration("ORCHESTRA_HOOK_MATCH_TIMEOUT", "2s")

# --- The rest of Django --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"  # only for ``collectstatic``; WhiteNoise also looks here
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves the static files from the hub itself, also under the one-process ``serve``.
# Finders mode reads them where they live (the console's ``static/``, the admin, the Swagger UI
# sidecar), so no ``collectstatic`` step is needed; files found at start-up are served.
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "console-login"
# Messages live in the session (server side), not in a signed but readable cookie: the admin's
# message carries a new API key.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": _choice("ORCHESTRA_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    },
    # The servers' own info lines (each started process, each accepted socket) are noise here.
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "uvicorn": {"level": "WARNING"},
    },
}
