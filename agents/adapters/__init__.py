"""Agent-CLI adapters: argv building and output parsing for claude, codex, gemini, custom.

``get_adapter(agent_type, command=None)`` returns a *new* adapter per run (parsers keep
per-run state).  ``resolve_binary(name)`` finds a CLI in the project's
``node_modules/.bin`` (pinned by package.json), then on ``PATH``.
``model_endpoint_env(agent_type, base_url, api_key)`` gives the env that points a CLI at a
model server (claude: ANTHROPIC_BASE_URL, codex: OPENAI_BASE_URL, which the codex adapter
turns into provider flags, gemini: GOOGLE_GEMINI_BASE_URL).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from .base import Adapter, AgentEvent, StepSettings
from .claude import ClaudeAdapter
from .codex import CodexAdapter
from .custom import CustomAdapter
from .gemini import GeminiAdapter

__all__ = [
    "AGENT_TYPES",
    "PROJECT_ROOT",
    "Adapter",
    "AgentEvent",
    "StepSettings",
    "get_adapter",
    "model_endpoint_env",
    "resolve_binary",
]

# agents/adapters/__init__.py -> project root is the parent of the `agents` dir.
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
_BUILTIN: dict[str, type[ClaudeAdapter | CodexAdapter | GeminiAdapter]] = {
    "claude": ClaudeAdapter,
    "codex": CodexAdapter,
    "gemini": GeminiAdapter,
}
AGENT_TYPES = (*_BUILTIN, "custom")


def get_adapter(agent_type: str, command: Sequence[str] | None = None) -> Adapter:
    """A fresh adapter for ``agent_type``; ``custom`` needs its ``command`` list."""
    if agent_type == "custom":
        if command is None:
            raise ValueError("custom agent needs a command list")
        return CustomAdapter(command)
    try:
        return _BUILTIN[agent_type]()
    except KeyError:
        raise ValueError(f"unknown agent type {agent_type!r}") from None


def resolve_binary(name: str, root: Path | None = None) -> Path | None:
    """``<root>/node_modules/.bin/<name>`` if executable, else ``name`` on PATH, else None.

    A name containing a path separator is taken as a path (custom commands).
    """
    if os.sep in name:
        path = Path(name)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    local = (root or PROJECT_ROOT) / "node_modules" / ".bin" / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def model_endpoint_env(agent_type: str, base_url: str, api_key: str | None = None) -> dict[str, str]:
    """Env vars pointing ``agent_type``'s CLI at the model server ``base_url``.

    For codex, ``base_url`` is OpenAI-style and should end in ``/v1``.
    """
    return get_adapter(agent_type).endpoint_env(base_url, api_key)
