"""Google Gemini CLI (``gemini``) adapter.

Argv (example)::

    gemini --output-format=stream-json --approval-mode=auto_edit --model=gemini-2.5-pro
           [extra_args...] --prompt=                          (the prompt on stdin)

* Prompt: the CLI reads stdin when it is not a terminal and ``--prompt=VALUE`` is
  "appended to input on stdin"; the empty ``--prompt=`` keeps the headless mode on and adds
  nothing, so the whole prompt comes from stdin (``stdin_prompt``) and never shows in argv;
  ``--version`` reaches the model as text.  ``--prompt=`` is the last element, after
  ``extra_args``.
* Model: ``--model`` when the step names one.  Without it the CLI uses ``auto``: it first
  asks a small model (``generateContent`` with a JSON schema) to route the request, which
  costs an extra call (and ~95 s of retries against a server that cannot answer it).
  ``thinking_budget`` / ``reasoning_level`` have no CLI flag (ignored).
* Follow-up: ``--resume=SESSION_ID`` continues that session (the CLI keeps sessions per
  project folder under ``$HOME/.gemini``); the session keeps its id.
* Approvals: default ``--approval-mode=auto_edit``: edits are auto-approved, other tools
  (shell) are refused headless rather than waiting for a person.  ``yolo`` auto-approves
  everything; a template opts in with ``--approval-mode=yolo`` (or ``-y``) in
  ``extra_args``, which replaces the default.
* Model server: ``GOOGLE_GEMINI_BASE_URL`` + ``GEMINI_API_KEY``; the CLI also needs
  ``GEMINI_CLI_TRUST_WORKSPACE=true`` and ``$HOME/.gemini/settings.json`` selecting
  ``{"security":{"auth":{"selectedType":"gemini-api-key"}}}`` (see tests/agent_env.py).

Output (``stream-json``): ``init``, ``message`` (``role`` user|assistant, ``delta``
chunks), ``tool_use``, ``tool_result``, ``error``, ``result`` (``status``, ``stats``).
Each assistant chunk with ``"delta": true`` becomes a ``delta`` event; the CLI never says
when a message ends, so the chunks are joined into one whole ``text`` event when anything
else comes (a tool call, an error, the result) or the output ends (``flush``).  The
final answer is the assistant text after the last tool call (all text if none), as the
``result`` line carries no text.  The CLI reports no cost (``cost_usd`` is None).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Adapter, AgentEvent, StepSettings, as_object, as_text, event, has_flag, result_event, unknown

DEFAULT_APPROVAL_MODE = "auto_edit"


class GeminiAdapter(Adapter):
    name = "gemini"
    binary = "gemini"

    def __init__(self, approval_mode: str = DEFAULT_APPROVAL_MODE) -> None:
        super().__init__()
        self.approval_mode = approval_mode
        self._session: str | None = None
        self._all_text: list[str] = []
        self._since_tool: list[str] = []
        self._message_parts: list[str] = []  # the deltas of the assistant message being written

    def build_argv(
        self,
        settings: StepSettings,
        binary_path: Path | str,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        argv = [str(binary_path), "--output-format=stream-json"]
        if self.approval_mode and not has_flag(settings.extra_args, "--approval-mode", "-y", "--yolo"):
            argv.append(f"--approval-mode={self.approval_mode}")
        if settings.model:
            argv.append(f"--model={settings.model}")
        if settings.resume_session:
            argv.append(f"--resume={settings.resume_session}")
        argv.extend(settings.extra_args)
        argv.append("--prompt=")  # headless; the prompt itself comes on stdin
        return argv

    def endpoint_env(self, base_url: str, api_key: str | None = None) -> dict[str, str]:
        env = {"GOOGLE_GEMINI_BASE_URL": base_url, "GEMINI_CLI_TRUST_WORKSPACE": "true"}
        if api_key:
            env["GEMINI_API_KEY"] = api_key
        return env

    def _parse_obj(self, obj: dict[str, Any], raw: str) -> list[AgentEvent]:
        if obj.get("type") == "message" and obj.get("role") == "assistant" and obj.get("delta") is True:
            text = as_text(obj.get("content"))
            self._message_parts.append(text)
            return [event("delta", text, raw, subtype="message:delta")]
        return [*self.flush(), *self._parse_whole(obj, raw)]

    def flush(self) -> list[AgentEvent]:
        """The assistant message the deltas so far make, as one whole ``text`` event."""
        if not self._message_parts:
            return []
        text, self._message_parts = "".join(self._message_parts), []
        self._all_text.append(text)
        self._since_tool.append(text)
        return [event("text", text, "", subtype="message")]

    def _parse_whole(self, obj: dict[str, Any], raw: str) -> list[AgentEvent]:
        kind = str(obj.get("type") or "")
        if kind == "init":
            self._session = obj.get("session_id")
            return [event("system", kind, raw, subtype=kind, session_id=self._session, model=obj.get("model"))]
        if kind == "message":
            text = as_text(obj.get("content"))
            if obj.get("role") != "assistant":  # the CLI echoes the user prompt
                return [event("system", text, raw, subtype=f"message:{obj.get('role')}")]
            self._all_text.append(text)
            self._since_tool.append(text)
            return [event("text", text, raw, subtype="message")]
        if kind == "tool_use":
            self._since_tool = []
            params = obj.get("parameters")
            return [
                event(
                    "tool_use",
                    as_text(params),
                    raw,
                    subtype=kind,
                    tool=str(obj.get("tool_name") or ""),
                    tool_id=obj.get("tool_id"),
                    input=params,
                )
            ]
        if kind == "tool_result":
            self._since_tool = []
            err = obj.get("error")
            text = as_text(obj.get("output")) or as_text(err.get("message") if isinstance(err, dict) else err)
            return [
                event(
                    "tool_result",
                    text,
                    raw,
                    subtype=kind,
                    tool_id=obj.get("tool_id"),
                    is_error=obj.get("status") not in (None, "success"),
                )
            ]
        if kind == "error":
            return [
                event(
                    "error",
                    as_text(obj.get("message")),
                    raw,
                    subtype=kind,
                    is_error=obj.get("severity", "error") == "error",
                )
            ]
        if kind == "result":
            return [self._result(obj, raw)]
        return [unknown(obj, raw)]

    def _result(self, obj: dict[str, Any], raw: str) -> AgentEvent:
        stats = as_object(obj.get("stats"))
        failed = obj.get("status") not in (None, "success")
        text = "".join(self._since_tool) or "".join(self._all_text)
        err = obj.get("error")
        if failed and not text:
            text = as_text(err.get("message") if isinstance(err, dict) else err)
        return result_event(
            raw,
            text,
            is_error=failed,
            subtype=str(obj.get("status") or "result"),
            input_tokens=stats.get("input_tokens", stats.get("input")),
            output_tokens=stats.get("output_tokens"),
            duration_ms=stats.get("duration_ms"),
            session_id=self._session,
        )
