"""How an agent is launched safely: argv list, allowlisted environment, confined workspace."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

from agents.adapters import StepSettings, get_adapter, resolve_binary
from agents.adapters.base import Adapter
from orchestra_site.exceptions import InvalidInput

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
    env.update({str(k): str(v) for k, v in template_env.items() if not str(k).startswith("ORCHESTRA_")})
    env.update(extra)
    env[STEP_RUN_ENV] = str(step_run_id)
    return env


def confined_workspace(path: str) -> Path:
    """The agent's cwd: an existing directory inside one of ``ORCHESTRA_WORKSPACE_ROOTS``."""
    if not path or not Path(path).is_absolute():
        raise InvalidInput(f"workspace_path: {path!r} is not an absolute path")
    resolved = Path(path).resolve()
    roots = [Path(root).resolve() for root in settings.WORKSPACE_ROOTS]
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise InvalidInput(f"workspace_path: {resolved} is outside ORCHESTRA_WORKSPACE_ROOTS")
    resolved.mkdir(parents=True, exist_ok=True)
    return resolved


def adapter_for(agent_type: str) -> tuple[Adapter, Path]:
    """A fresh adapter and the CLI binary it drives; a clear error when the CLI is missing."""
    command = list(settings.CUSTOM_AGENT_COMMAND) if agent_type == "custom" else None
    if agent_type == "custom" and not command:
        raise InvalidInput("custom agents need ORCHESTRA_CUSTOM_AGENT_COMMAND (e.g. mytool,--prompt,{prompt})")
    try:
        adapter = get_adapter(agent_type, command)
    except ValueError as exc:
        raise InvalidInput(f"agent_type: {exc}") from exc
    name = command[0] if command else adapter.binary
    binary = _find_binary(name)
    if binary is None:
        raise InvalidInput(f"the {agent_type} CLI ({name}) is not installed: run `make install` or put it on PATH")
    return adapter, binary


def _find_binary(name: str) -> Path | None:
    local = Path(settings.AGENT_BIN_DIR) / name
    if os.sep not in name and local.is_file() and os.access(local, os.X_OK):
        return local
    return resolve_binary(name)


def build_launch(
    *, agent_type: str, prompt: str, step_settings: Mapping[str, object], cwd: Path, step_run_id: int
) -> tuple[Adapter, list[str], dict[str, str]]:
    adapter, binary = adapter_for(agent_type)
    spec = StepSettings(
        prompt=prompt,
        workspace=cwd,
        model=_str_or_none(step_settings.get("model_version")),
        thinking_budget=_int_or_none(step_settings.get("thinking_budget")),
        reasoning_level=_str_or_none(step_settings.get("reasoning_level")),
    )
    template_env = step_settings.get("env") or {}
    env = child_environment(
        template_env=template_env if isinstance(template_env, dict) else {},
        extra=adapter.extra_env(spec),
        step_run_id=step_run_id,
    )
    return adapter, adapter.build_argv(spec, binary, env), env


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
