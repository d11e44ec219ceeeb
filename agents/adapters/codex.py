"""OpenAI Codex CLI (``codex``) adapter.

Argv (example)::

    codex exec --json --skip-git-repo-check --sandbox=workspace-write --cd=/ws
          --model=gpt-5-codex --config=model_reasoning_effort="high"
          [--config=model_provider="hub" --config=model_providers.hub={...}]
          [extra_args...] -- -                              (the prompt on stdin)

* Follow-up: ``codex exec resume [options] -- SESSION_ID -`` continues that thread; it has
  no ``--sandbox`` nor ``--cd``, so the sandbox is set as ``--config=sandbox_mode=...`` and the
  runner starts it in the execution's folder.
* Prompt: the positional ``[PROMPT]`` is ``-`` (after ``--``, clap's end of options), which
  makes both ``exec`` and ``exec resume`` read the prompt from stdin until EOF
  (``stdin_prompt``): the runner writes it and closes stdin, so it never shows in argv and
  ``--version`` reaches the model as text.  Our own
  values use ``--flag=value``; ``-c`` values are TOML strings quoted with ``json.dumps``
  (a valid TOML basic string), so a value cannot add other config keys.
* Sandbox: default ``--sandbox=workspace-write`` (commands may write the workspace only;
  ``codex exec`` never asks for approval).  ``extra_args`` with ``-s``/``--sandbox``/
  ``--dangerously-bypass-approvals-and-sandbox`` replaces the default.
* Model server: codex ignores ``OPENAI_BASE_URL``.  If the child ``env`` given to
  ``build_argv`` has ``OPENAI_BASE_URL`` (e.g. ``http://host:8080/v1``), we define a
  provider ``hub`` with that base URL and the Responses wire API, keyed by
  ``OPENAI_API_KEY`` when that is set.  So users point all three CLIs by their usual
  variables.  ``thinking_budget`` is not supported by codex (ignored).

Output (``--json``): ``thread.started``, ``turn.started``, ``item.started|updated|completed``
(item types ``agent_message``, ``reasoning``, ``command_execution``, ``file_change``,
``mcp_tool_call``, ``web_search``, ``todo_list``, ``error``), ``turn.completed`` (usage),
``turn.failed``, ``error``.  Codex 0.169 prints an ``agent_message`` only once it is whole
(``item.completed``): ``exec --json`` emits no ``item.updated`` for it and no text deltas
(those exist only on the ``app-server`` protocol), so a codex agent sends no ``delta``
events.  Should a version print ``item.updated`` with the text so far, what it adds to the
text before is sent as a ``delta``.  There is no final-answer line: the ``result`` event is
synthesized at ``turn.completed`` from the last ``agent_message``; codex reports no cost,
and ``duration_ms`` is measured by this adapter from its creation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Adapter, AgentEvent, StepSettings, as_object, as_text, event, has_flag, result_event, unknown

DEFAULT_SANDBOX = "workspace-write"
PROVIDER = "hub"


def toml_str(value: str) -> str:
    return json.dumps(value)


def provider_args(base_url: str, with_key: bool) -> list[str]:
    fields = f'name={toml_str(PROVIDER)},base_url={toml_str(base_url)},wire_api="responses"'
    if with_key:
        fields += ',env_key="OPENAI_API_KEY"'
    return [f"--config=model_provider={toml_str(PROVIDER)}", f"--config=model_providers.{PROVIDER}={{{fields}}}"]


class CodexAdapter(Adapter):
    name = "codex"
    binary = "codex"

    def __init__(self, sandbox: str = DEFAULT_SANDBOX) -> None:
        super().__init__()
        self.sandbox = sandbox
        self._session: str | None = None
        self._last_message = ""
        self._partial: dict[str, str] = {}  # agent_message id -> the text its updates showed so far

    def build_argv(
        self,
        settings: StepSettings,
        binary_path: Path | str,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        resume = settings.resume_session
        argv = [str(binary_path), "exec", *(["resume"] if resume else []), "--json", "--skip-git-repo-check"]
        if self.sandbox and not has_flag(
            settings.extra_args, "-s", "--sandbox", "--dangerously-bypass-approvals-and-sandbox"
        ):
            # ``exec resume`` has no --sandbox: the same setting as configuration.
            argv.append(f"--config=sandbox_mode={toml_str(self.sandbox)}" if resume else f"--sandbox={self.sandbox}")
        if not resume:  # ``exec resume`` has no --cd: the runner starts it in the folder
            argv.append(f"--cd={settings.workspace}")
        if settings.model:
            argv.append(f"--model={settings.model}")
        if settings.reasoning_level:
            argv.append(f"--config=model_reasoning_effort={toml_str(settings.reasoning_level)}")
        base_url = (env or {}).get("OPENAI_BASE_URL")
        if base_url:
            argv += provider_args(base_url, with_key=bool((env or {}).get("OPENAI_API_KEY")))
        argv.extend(settings.extra_args)
        argv += ["--", resume, "-"] if resume else ["--", "-"]
        return argv

    def endpoint_env(self, base_url: str, api_key: str | None = None) -> dict[str, str]:
        env = {"OPENAI_BASE_URL": base_url}
        if api_key:
            env["OPENAI_API_KEY"] = api_key
        return env

    def _parse_obj(self, obj: dict[str, Any], raw: str) -> list[AgentEvent]:
        kind = str(obj.get("type") or "")
        if kind == "thread.started":
            self._session = obj.get("thread_id")
            return [event("system", kind, raw, subtype=kind, session_id=self._session)]
        if kind.startswith("item."):
            item = obj.get("item")
            return self._item(kind, item if isinstance(item, dict) else {}, raw)
        if kind == "turn.completed":
            usage = as_object(obj.get("usage"))
            return [
                result_event(
                    raw,
                    self._last_message,
                    is_error=False,
                    subtype=kind,
                    input_tokens=usage.get("input_tokens"),
                    output_tokens=usage.get("output_tokens"),
                    duration_ms=self.elapsed_ms(),
                    session_id=self._session,
                )
            ]
        if kind == "turn.failed":
            err = obj.get("error")
            msg = as_text(err.get("message") if isinstance(err, dict) else err)
            return [
                event("error", msg, raw, subtype=kind, is_error=True),
                result_event(
                    raw, msg, is_error=True, subtype=kind, duration_ms=self.elapsed_ms(), session_id=self._session
                ),
            ]
        if kind == "error":  # stream errors; codex also uses these for retry notices
            return [event("error", as_text(obj.get("message")), raw, subtype=kind, is_error=True)]
        return [unknown(obj, raw)]

    def _partial_message(self, item: dict[str, Any], raw: str, sub: str) -> list[AgentEvent]:
        key, text = str(item.get("id")), as_text(item.get("text"))
        before = self._partial.get(key, "")
        self._partial[key] = text
        if text.startswith(before) and len(text) > len(before):
            return [event("delta", text[len(before) :], raw, subtype=sub)]
        return []

    def _item(self, kind: str, item: dict[str, Any], raw: str) -> list[AgentEvent]:
        itype = str(item.get("type") or "")
        done = kind == "item.completed"
        sub = f"{itype}:{kind.removeprefix('item.')}"
        if itype == "agent_message":
            if not done:  # partial; the completed item repeats the full text
                return self._partial_message(item, raw, sub)
            self._partial.pop(str(item.get("id")), None)
            self._last_message = as_text(item.get("text"))
            return [event("text", self._last_message, raw, subtype=itype)]
        if itype == "reasoning":
            return [event("system", as_text(item.get("text")), raw, subtype=sub)]
        if itype == "error":  # non-fatal notices (e.g. unknown model metadata)
            return [event("error", as_text(item.get("message")), raw, subtype=sub, is_error=False)]
        tool = {"command_execution": "shell", "file_change": "file_change", "web_search": "web_search"}.get(itype)
        if itype == "mcp_tool_call":
            tool = f"{item.get('server', '')}/{item.get('tool', '')}"
        if tool is None:  # todo_list and future item types
            return [event("system", itype, raw, subtype=sub)]
        tool_input = {k: v for k, v in item.items() if k in ("command", "changes", "query", "arguments")}
        if kind == "item.started":
            return [
                event(
                    "tool_use",
                    as_text(tool_input),
                    raw,
                    subtype=sub,
                    tool=tool,
                    tool_id=item.get("id"),
                    input=tool_input,
                )
            ]
        if not done:
            return [event("system", itype, raw, subtype=sub)]
        output = item.get("aggregated_output", item.get("result", item.get("changes")))
        failed = item.get("status") == "failed" or item.get("exit_code") not in (None, 0)
        return [
            event(
                "tool_result",
                as_text(output),
                raw,
                subtype=sub,
                tool=tool,
                tool_id=item.get("id"),
                input=tool_input,
                is_error=failed,
            )
        ]
