"""How an agent is launched safely: argv list, an environment that carries no code (``agents.environment``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

from agents.adapters import StepSettings, get_adapter, resolve_binary
from agents.adapters.base import Adapter
from agents.environment import child_environment
from orchestra_site.api.exceptions import InvalidInput


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
    *,
    agent_type: str,
    prompt: str,
    step_settings: Mapping[str, object],
    cwd: Path,
    step_run_id: int,
    resume_session: str | None = None,
) -> tuple[Adapter, list[str], dict[str, str], str | None]:
    """The adapter, argv, environment and stdin (the prompt, never in argv for the built-in CLIs:
    ``Adapter.stdin_prompt``; ``None``: /dev/null) of one agent run.
    ``resume_session``: a follow-up message continues that session of the CLI."""
    adapter, binary = adapter_for(agent_type)
    try:
        spec = StepSettings(
            prompt=prompt,
            workspace=cwd,
            model=_str_or_none(step_settings.get("model_version")),
            thinking_budget=_int_or_none(step_settings.get("thinking_budget")),
            reasoning_level=_str_or_none(step_settings.get("reasoning_level")),
            max_budget_usd=_float_or_none(step_settings.get("max_budget_usd")),
            resume_session=resume_session,
        )
    except ValueError as exc:
        raise InvalidInput(f"resume_session_id: {exc}") from None
    template_env = step_settings.get("env") or {}
    env = child_environment(
        template_env=template_env if isinstance(template_env, dict) else {},
        extra=adapter.extra_env(spec),
        step_run_id=step_run_id,
    )
    return adapter, adapter.build_argv(spec, binary, env), env, adapter.stdin_prompt(spec)


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
