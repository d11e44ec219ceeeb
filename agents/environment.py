"""The environment an agent starts with, and the allowlist that keeps a client's choices out of it.

An agent inherits an allowlisted part of the hub's environment (``DEFAULT_ENV_ALLOWLIST``: what
the CLIs need to find their login, configuration and model server), plus the operator's
``ORCHESTRA_AGENT_ENV_PASSTHROUGH``, plus a template's ``metadata.env``. Those last variables come
from API clients, and nearly every name some program reads can be turned against the hub user:
it loads code (``LD_PRELOAD``, ``NODE_OPTIONS``, ``BASH_ENV``), plugins, hooks or settings into
the CLIs (``CLAUDE_CODE_*``, ``*_HOME``, ``*_CONFIG*``, ``GIT_*``), or sends the owner's
credentials somewhere else (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``, ``*_PROXY``). A
blocklist of such names always misses one, so a template, a step or an execution may set only:

- the few names in ``TEMPLATE_ENV_NAMES``, each with a value of a narrow shape (see there why
  each is harmless);
- names starting with ``ORCHESTRA_TASK_``: the user's own task variables, which no program
  interprets (the hub reserves the prefix and reads none of it);
- names the operator lists in ``ORCHESTRA_AGENT_ENV_ALLOWED``, never an endpoint or a proxy and
  never a name the hub passes from its own environment: where the owner's credentials go, and
  the CLIs' configuration, are the operator's settings only.

Anything else is refused when a template or step is written (a 400 naming the field and the
variable, and how the operator can allow it) and dropped again at launch, for rows written before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from django.conf import settings

from orchestra_site.api.exceptions import InvalidInput

# What the CLIs need to find themselves, their login and their configuration. The hub's own
# variables (ORCHESTRA_*, DJANGO_*, database and Redis URLs, secrets) are never passed on.
DEFAULT_ENV_ALLOWLIST = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_AUTOUPDATER",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CODEX_HOME",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GEMINI_CLI_TRUST_WORKSPACE",
)
STEP_RUN_ENV = "ORCHESTRA_STEP_RUN"

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_VALUE_LENGTH = 32 * 1024
MAX_VARIABLES = 100

# Names (exactly so spelled) a template may set, and the shape of their values. Each only changes
# how text is shown, and its value can name nothing outside the system's own data:
# - TZ: the time zone; a name under the system's zoneinfo (no leading ``/`` or ``:``, no ``..``)
#   or a POSIX rule, so no file elsewhere is read. TZDIR stays the operator's.
# - LANG, LANGUAGE, LC_*: the locale and message language, looked up in the system's locale data
#   by name (no ``/``, so no path; LOCPATH and NLSPATH stay the operator's).
# - TERM: the terminal type, looked up by name in the system's terminfo (no ``/``; TERMINFO stays
#   the operator's).
# - NO_COLOR, FORCE_COLOR, CLICOLOR, CLICOLOR_FORCE, COLUMNS, LINES: colours and width of output.
# Not here, on purpose: CI (switches tools into an unattended mode: auto-confirmed installs,
# uploaders looking for tokens), DEBUG and the *_LOG / *_DEBUG names (debug logs can print request
# headers, credentials included, into the stored log), and anything naming a file or a URL.
_WORD = r"[A-Za-z0-9_.+-]{0,64}"
_LOCALE = re.compile(r"[A-Za-z0-9_.@-]{0,64}")
TEMPLATE_ENV_NAMES: dict[str, re.Pattern[str]] = {
    "TZ": re.compile(r"(?!.*\.\.)(?:[A-Za-z0-9_+<>,.-][A-Za-z0-9_+<>,./-]{0,63})?"),
    "LANG": _LOCALE,
    "LANGUAGE": re.compile(r"[A-Za-z0-9_.@:-]{0,256}"),
    "LC_ALL": _LOCALE,
    "LC_CTYPE": _LOCALE,
    "LC_MESSAGES": _LOCALE,
    "LC_TIME": _LOCALE,
    "LC_NUMERIC": _LOCALE,
    "LC_COLLATE": _LOCALE,
    "LC_MONETARY": _LOCALE,
    "TERM": re.compile(_WORD),
    "NO_COLOR": re.compile(_WORD),
    "FORCE_COLOR": re.compile(_WORD),
    "CLICOLOR": re.compile(_WORD),
    "CLICOLOR_FORCE": re.compile(_WORD),
    "COLUMNS": re.compile(r"[0-9]{1,5}"),
    "LINES": re.compile(r"[0-9]{1,5}"),
}
TASK_PREFIX = "ORCHESTRA_TASK_"
# Where the owner's credentials and traffic go: never a client's choice, whatever the operator
# allows (ORCHESTRA_AGENT_ENV_ALLOWED refuses these names at start-up too).
ENDPOINT_NAME = re.compile(r"(?i).*(URL|URI|ENDPOINT|PROXY|HOST|API_BASE)")

_HOW_TO_ALLOW = (
    "a template may set only {fixed}, and names starting with ORCHESTRA_TASK_; the operator can allow"
    " more with ORCHESTRA_AGENT_ENV_ALLOWED"
)


def operator_only(name: str) -> bool:
    """An endpoint, a proxy, or a variable the hub passes from its own (the operator's) environment."""
    return (
        ENDPOINT_NAME.fullmatch(name) is not None
        or name in DEFAULT_ENV_ALLOWLIST
        or name in settings.AGENT_ENV_PASSTHROUGH
        or name == STEP_RUN_ENV
    )


def refused_reason(name: str, value: object = "") -> str | None:
    """Why a template may not set ``name`` (to ``value``), or None when it may."""
    if not NAME.match(name):
        return "is not a valid variable name (letters, digits and _, not starting with a digit)"
    pattern = TEMPLATE_ENV_NAMES.get(name)
    if pattern is not None:
        if isinstance(value, str) and not pattern.fullmatch(value):
            return f"may not be set to {value[:80]!r} by a template: {name} takes a plain name or number, no path"
        return None
    if name.startswith(TASK_PREFIX) and len(name) > len(TASK_PREFIX):
        return None
    if operator_only(name):
        return (
            "may not be set by a template: endpoints, proxies, credentials and the CLIs' configuration"
            " are the operator's settings (the hub's own environment, ORCHESTRA_AGENT_ENV_PASSTHROUGH)"
        )
    if name in settings.AGENT_ENV_ALLOWED:
        return None
    return "may not be set by a template: " + _HOW_TO_ALLOW.format(fixed=", ".join(TEMPLATE_ENV_NAMES))


def validate_template_env(env: object, *, field: str = "metadata.env") -> dict[str, str]:
    """The template's variables, or ``InvalidInput`` naming the first bad one."""
    if not isinstance(env, dict):
        raise InvalidInput(f"{field}: must be an object of variable names to string values.")
    if len(env) > MAX_VARIABLES:
        raise InvalidInput(f"{field}: at most {MAX_VARIABLES} variables.")
    for name, value in env.items():
        reason = refused_reason(name, value)
        if reason is not None:
            raise InvalidInput(f"{field}.{name}: {reason}.")
        if not isinstance(value, str):
            raise InvalidInput(f"{field}.{name}: must be a string, got {type(value).__name__}.")
        if "\x00" in value or len(value) > MAX_VALUE_LENGTH:
            raise InvalidInput(f"{field}.{name}: must be a string of at most {MAX_VALUE_LENGTH} characters, no NUL.")
    return dict(env)


def validate_template_metadata(metadata: object, *, field: str = "metadata") -> None:
    """What the runner reads from a template's (or step's) metadata must be well-formed."""
    if not isinstance(metadata, dict):
        return
    if "env" in metadata:
        validate_template_env(metadata["env"], field=f"{field}.env")
    for key in ("timeout_seconds", "idle_timeout_seconds"):
        value = metadata.get(key)
        if value is not None and positive_seconds(value) is None:
            raise InvalidInput(f"{field}.{key}: must be a positive number of seconds.")


def positive_seconds(value: object) -> float | None:
    """``value`` as a positive number of seconds, or None (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        return None
    return value  # an int stays an int in the stored snapshot


def safe_template_env(env: object) -> dict[str, str]:
    """The variables of a stored template that may reach an agent (launch-time filter)."""
    if not isinstance(env, dict):
        return {}
    return {
        name: value
        for name, value in env.items()
        if isinstance(name, str)
        and isinstance(value, str)
        and "\x00" not in value
        and len(value) <= MAX_VALUE_LENGTH
        and refused_reason(name, value) is None
    }


def child_environment(
    *,
    template_env: Mapping[str, str],
    extra: Mapping[str, str],
    step_run_id: int,
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The allowlisted part of the hub's environment, the adapter's and the template's variables.

    ``ORCHESTRA_STEP_RUN`` marks the process as ours, so a restarted runner can tell its own
    orphans from an unrelated process that reused the pid.
    """
    source = os.environ if source is None else source
    names = (*DEFAULT_ENV_ALLOWLIST, *settings.AGENT_ENV_PASSTHROUGH)
    env = {name: source[name] for name in names if name in source}
    env.update(safe_template_env(template_env))
    env.update(extra)
    env[STEP_RUN_ENV] = str(step_run_id)
    return env
