"""Claude Code (``claude``) adapter.

Argv (example)::

    claude -p --output-format=stream-json --verbose --include-partial-messages
           --permission-mode=acceptEdits --model=sonnet --effort=high
           [--max-budget-usd=2.5] [extra_args...]      (the prompt on stdin)

* Prompt safety: ``-p`` is a boolean (print mode) and, with no positional prompt, the CLI
  reads the prompt from stdin (``stdin_prompt``), so ``--version`` or ``-h`` is sent to the
  model as text and the prompt never shows in argv.  Values of our own flags use the joined
  ``--flag=value`` form so a value can never be taken for a flag either.  Note: a prompt
  starting with ``/`` is a Claude *slash command* (e.g. ``/cost`` runs locally, no model
  call): that is CLI semantics, not argv injection.
* Follow-up: ``--resume=SESSION_ID`` continues that session (its history is sent again with the
  new prompt); the session keeps its id.
* Thinking budget: the CLI honours env ``MAX_THINKING_TOKENS`` (sent as
  ``thinking.budget_tokens``).  ``reasoning_level`` maps to ``--effort`` (low..max).
* Permissions: default ``--permission-mode=acceptEdits``.  Headless, nobody can answer a
  prompt, so edits inside the workspace are pre-approved and anything else (e.g. shell
  commands not in ``--allowedTools``) is denied instead of waiting.  ``bypassPermissions``
  is not the default because the CLI refuses it when running as root (common in
  containers) and because it lifts every guard; a template can opt in by putting
  ``--permission-mode=...`` in ``extra_args`` (then the default is not added).
* Model server: ``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_API_KEY`` (``endpoint_env``).  The
  runner should also set ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` offline.

* Budget: ``--max-budget-usd`` (the CLI stops itself past it and ends with the result
  subtype ``error_max_budget_usd``).

Output: one JSON object per line: ``system``/``init``, ``assistant`` (content blocks:
text, thinking, tool_use), ``user`` (tool_result blocks), and a final ``result``.  With
``--include-partial-messages`` the API's stream events come too (``stream_event``): each
``text_delta`` becomes a ``delta`` event; the others are dropped (the whole ``assistant``
message that follows carries what they built).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Adapter, AgentEvent, StepSettings, as_object, as_text, event, has_flag, result_event, unknown

DEFAULT_PERMISSION_MODE = "acceptEdits"


class ClaudeAdapter(Adapter):
    name = "claude"
    binary = "claude"

    def __init__(self, permission_mode: str = DEFAULT_PERMISSION_MODE) -> None:
        super().__init__()
        self.permission_mode = permission_mode

    def build_argv(
        self,
        settings: StepSettings,
        binary_path: Path | str,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        argv = [str(binary_path), "-p", "--output-format=stream-json", "--verbose", "--include-partial-messages"]
        if self.permission_mode and not has_flag(
            settings.extra_args, "--permission-mode", "--dangerously-skip-permissions"
        ):
            argv.append(f"--permission-mode={self.permission_mode}")
        if settings.model:
            argv.append(f"--model={settings.model}")
        if settings.reasoning_level:
            argv.append(f"--effort={settings.reasoning_level}")
        if settings.max_budget_usd is not None and not has_flag(settings.extra_args, "--max-budget-usd"):
            argv.append(f"--max-budget-usd={settings.max_budget_usd:.6f}")
        if settings.resume_session:
            argv.append(f"--resume={settings.resume_session}")
        argv.extend(settings.extra_args)
        return argv

    def extra_env(self, settings: StepSettings) -> dict[str, str]:
        if settings.thinking_budget is not None:
            return {"MAX_THINKING_TOKENS": str(int(settings.thinking_budget))}
        return {}

    def endpoint_env(self, base_url: str, api_key: str | None = None) -> dict[str, str]:
        env = {"ANTHROPIC_BASE_URL": base_url, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        if api_key:
            env["ANTHROPIC_API_KEY"] = api_key
        return env

    def _parse_obj(self, obj: dict[str, Any], raw: str) -> list[AgentEvent]:
        kind = obj.get("type")
        if kind == "system":
            sub = str(obj.get("subtype") or "system")
            return [event("system", sub, raw, subtype=sub, session_id=obj.get("session_id"), model=obj.get("model"))]
        if kind in ("assistant", "user"):
            return self._message(obj, raw, kind)
        if kind == "stream_event":
            return self._stream_event(as_object(obj.get("event")), raw)
        if kind == "result":
            usage = as_object(obj.get("usage"))
            sub = str(obj.get("subtype") or "")
            text = obj.get("result")
            if not isinstance(text, str):  # error subtypes may carry `errors` instead
                text = as_text(obj.get("errors") or text)
            return [
                result_event(
                    raw,
                    text,
                    is_error=bool(obj.get("is_error")) or sub not in ("", "success"),
                    input_tokens=usage.get("input_tokens"),
                    output_tokens=usage.get("output_tokens"),
                    cost_usd=obj.get("total_cost_usd"),
                    duration_ms=obj.get("duration_ms"),
                    session_id=obj.get("session_id"),
                    subtype=sub or "result",
                )
            ]
        return [unknown(obj, raw)]

    def _stream_event(self, stream: dict[str, Any], raw: str) -> list[AgentEvent]:
        delta = as_object(stream.get("delta"))
        if stream.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
            return [event("delta", as_text(delta.get("text")), raw, subtype="text_delta")]
        return []

    def _message(self, obj: dict[str, Any], raw: str, role: str) -> list[AgentEvent]:
        msg = as_object(obj.get("message"))
        content = msg.get("content")
        if isinstance(content, str):  # user messages may be plain strings
            content = [{"type": "text", "text": content}]
        out: list[AgentEvent] = []
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text" and role == "assistant":
                out.append(event("text", as_text(block.get("text")), raw, subtype="text"))
            elif btype in ("thinking", "redacted_thinking"):
                out.append(event("system", as_text(block.get("thinking")), raw, subtype="thinking"))
            elif btype == "tool_use":
                out.append(
                    event(
                        "tool_use",
                        json.dumps(block.get("input"), ensure_ascii=False),
                        raw,
                        subtype="tool_use",
                        tool=str(block.get("name") or ""),
                        tool_id=block.get("id"),
                        input=block.get("input"),
                    )
                )
            elif btype == "tool_result":
                out.append(
                    event(
                        "tool_result",
                        as_text(block.get("content")),
                        raw,
                        subtype="tool_result",
                        tool_id=block.get("tool_use_id"),
                        is_error=bool(block.get("is_error")),
                    )
                )
        # An echo of a user text, or an empty message: keep it visible as system.
        return out or [event("system", role, raw, subtype=role)]
