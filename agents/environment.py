"""The environment an agent starts with, and the rule that keeps code out of it.

An agent inherits an allowlisted part of the hub's environment (what the CLIs need to find their
login and configuration), plus ``ORCHESTRA_AGENT_ENV_PASSTHROUGH``, plus a template's
``metadata.env``. The template's variables come from API clients, so they must not be able to
run code as the hub user: no name that makes a process load code (``LD_PRELOAD``,
``NODE_OPTIONS``, ``PYTHONSTARTUP``, ``BASH_ENV``, ...) or changes where it finds programs,
libraries or its configuration (``PATH``, ``HOME``, ``XDG_*``, ``CODEX_HOME``, ...). Such names
are refused when a template is written and dropped again at launch, for rows written before.
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

# Compared upper-cased: a loader or a runtime that reads a name in another case is not worth
# the risk. Names that load code, or move where programs, libraries, certificates or any
# configuration are found (a planted config file can name a program to run).
REFUSED_NAMES = frozenset(
    {
        "PATH", "HOME", "ENV", "BASH_ENV", "SHELL", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
        "IFS", "CDPATH", "ZDOTDIR", "EDITOR", "VISUAL", "PAGER", "BROWSER", "TMPDIR", "TEMP", "TMP",
        "CLASSPATH", "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS",
        "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "TERMINFO", "TERMINFO_DIRS", "INPUTRC", "MAGIC",
        "RUBYOPT", "RUBYLIB", "TCLLIBPATH", "GEM_HOME", "GEM_PATH", "BUNDLE_GEMFILE",
        "GOPATH", "GOROOT", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "VIRTUAL_ENV", "CODEX_HOME",
        "CLAUDE_CONFIG_DIR", "GEMINI_CLI_HOME", "GOOGLE_APPLICATION_CREDENTIALS", "KUBECONFIG",
        "DOCKER_CONFIG", "DOCKER_HOST", "JAVA_HOME", "COMPOSER_HOME",
    }
)  # fmt: skip
REFUSED_PREFIXES = (
    "LD_", "DYLD_", "NODE_", "NPM_CONFIG_", "YARN_", "PNPM_", "BUN_", "DENO_", "PYTHON", "PIP_", "UV_",
    "CONDA", "PERL", "RUBY", "LUA_", "JAVA_", "_JAVA_", "JDK_", "GIT_", "XDG_", "SSH_", "GNUPG", "GPG_",
    "MALLOC_", "CARGO_", "RUSTUP_", "RUSTC", "ORCHESTRA_", "DJANGO_",
)  # fmt: skip


def refused_reason(name: str) -> str | None:
    """Why ``name`` may not be set by a template, or None when it may."""
    if not NAME.match(name):
        return "is not a valid variable name (letters, digits and _, not starting with a digit)"
    upper = name.upper()
    if upper in REFUSED_NAMES or upper.startswith(REFUSED_PREFIXES):
        return "may not be set by a template: it can make the agent load code or read another configuration"
    return None


def validate_template_env(env: object, *, field: str = "metadata.env") -> dict[str, str]:
    """The template's variables, or ``InvalidInput`` naming the first bad one."""
    if not isinstance(env, dict):
        raise InvalidInput(f"{field}: must be an object of variable names to string values.")
    if len(env) > MAX_VARIABLES:
        raise InvalidInput(f"{field}: at most {MAX_VARIABLES} variables.")
    for name, value in env.items():
        reason = refused_reason(name)
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
        if isinstance(name, str) and isinstance(value, str) and "\x00" not in value and refused_reason(name) is None
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
