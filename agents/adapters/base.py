"""Contract shared by every agent-CLI adapter (pure Python, no Django).

An adapter knows three things about one CLI:

1. ``build_argv(settings, binary_path, env)``: the argv *list* that runs one headless step.
   Never a shell string, and never the prompt: ``stdin_prompt(settings)`` is what the runner
   writes on the CLI's stdin (then closes it), so the prompt is neither visible in ``ps`` to
   other users of the machine nor limited by the kernel's 128 KiB per argument.  ``None``
   (a custom command that takes its prompt in argv) means stdin is ``/dev/null``.
2. ``extra_env(settings)``: variables the CLI needs on top of the runner's allowlisted env
   (e.g. ``MAX_THINKING_TOKENS`` for claude).  ``endpoint_env(base_url, api_key)`` gives the
   variables that point the CLI at a model server (the hub's "offline" / self-hosted mode).
3. ``parse_line(line)``: one stdout line -> zero or more normalized ``AgentEvent``.  It never
   raises: non-JSON lines become ``text`` events, JSON of an unknown shape becomes a
   ``system`` event, and every event keeps the original line in ``raw``.

Adapters may keep per-run state while parsing (codex and gemini assemble the final answer
from earlier lines), so use one adapter instance per run: ``get_adapter()`` returns a new one.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

# ``delta`` is a piece of a message as the model writes it: sent live, never stored (the whole
# message follows as a ``text`` event).
EventKind = Literal["system", "text", "delta", "tool_use", "tool_result", "error", "result"]


class AgentEvent(TypedDict):
    """One normalized event.  ``result`` events carry the token/cost/duration fields."""

    kind: EventKind
    text: str
    raw: str
    subtype: NotRequired[str]  # the CLI's own event type, e.g. "init", "thinking"
    tool: NotRequired[str]
    tool_id: NotRequired[str]
    input: NotRequired[Any]
    is_error: NotRequired[bool]
    input_tokens: NotRequired[int | None]
    output_tokens: NotRequired[int | None]
    cost_usd: NotRequired[float | None]
    duration_ms: NotRequired[int | None]
    session_id: NotRequired[str | None]
    model: NotRequired[str | None]


@dataclass(frozen=True, kw_only=True)
class StepSettings:
    """What one step asks of an agent.  ``extra_args`` are appended after the adapter's own flags.

    ``resume_session`` continues that earlier session of the CLI (a follow-up message) instead
    of starting a new one; ``validate_session_id`` has checked it cannot be read as an option.
    """

    prompt: str
    workspace: Path
    model: str | None = None
    thinking_budget: int | None = None
    reasoning_level: str | None = None
    extra_args: tuple[str, ...] = ()
    max_budget_usd: float | None = None  # the CLI's own spending limit, where it has one
    resume_session: str | None = None

    def __post_init__(self) -> None:
        if self.resume_session is not None:
            validate_session_id(self.resume_session)


SESSION_ID_MAX = 200
_SESSION_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def validate_session_id(value: str) -> str:
    """A session id a CLI printed, fit to be passed back to it: letters, digits, ``-_.:``, not
    starting with ``-`` (never an option), at most 200 characters. ``ValueError`` otherwise."""
    if not value or len(value) > SESSION_ID_MAX or value[0] == "-" or not set(value) <= _SESSION_ID_CHARS:
        raise ValueError(f"not a session id the hub passes to an agent CLI: {value[:60]!r}")
    return value


def event(kind: EventKind, text: str, raw: str, **fields: Any) -> AgentEvent:
    ev: dict[str, Any] = {"kind": kind, "text": text, "raw": raw}
    ev.update({k: v for k, v in fields.items() if v is not None or k in _KEEP_NONE})
    return ev  # type: ignore[return-value]


# Result fields are always present (possibly None) so consumers need no .get() dance.
_KEEP_NONE = {"input_tokens", "output_tokens", "cost_usd", "duration_ms", "session_id"}


def as_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str:
    """Flatten a string / list of content blocks / anything into display text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [as_text(v.get("text", "") if isinstance(v, dict) else v) for v in value]
        return "\n".join(p for p in parts if p)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    return json.dumps(value, ensure_ascii=False, default=str)


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when the CLI sent a JSON object there, else an empty one (a missing or odd field)."""
    return value if isinstance(value, dict) else {}


def has_flag(args: Iterable[str], *names: str) -> bool:
    """True if ``args`` already sets one of ``names`` (``--x v`` or ``--x=v`` form)."""
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


class Adapter(ABC):
    """Base class; subclasses set ``name``/``binary`` and implement the abstract methods."""

    name: str = ""
    binary: str = ""

    def __init__(self) -> None:
        self._started = time.monotonic()

    @abstractmethod
    def build_argv(
        self,
        settings: StepSettings,
        binary_path: Path | str,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Argv for one headless run.  ``env`` is the child's environment (optional)."""

    def stdin_prompt(self, settings: StepSettings) -> str | None:
        """What the runner writes on the CLI's stdin: the prompt (``None``: stdin is /dev/null)."""
        return settings.prompt or None

    def extra_env(self, settings: StepSettings) -> dict[str, str]:
        return {}

    def endpoint_env(self, base_url: str, api_key: str | None = None) -> dict[str, str]:
        """Env that points this CLI at a model server at ``base_url``."""
        return {}

    def parse_line(self, line: str) -> list[AgentEvent]:
        """Normalize one stdout line; never raises."""
        raw = line.rstrip("\r\n")
        if not raw.strip():
            return []
        try:
            obj = json.loads(raw)
        except ValueError:
            return [event("text", raw, raw, subtype="plain")]
        if not isinstance(obj, dict):
            return [event("text", raw, raw, subtype="plain")]
        try:
            return self._parse_obj(obj, raw)
        except Exception as exc:
            return [event("system", f"unparsed line ({type(exc).__name__})", raw, subtype="unparsed")]

    def _parse_obj(self, obj: dict[str, Any], raw: str) -> list[AgentEvent]:
        return [unknown(obj, raw)]

    def flush(self) -> list[AgentEvent]:
        """Events the parser still holds when the output ends (a message whose end never came)."""
        return []

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def final_result(self, events: Iterable[AgentEvent]) -> AgentEvent | None:
        """The last ``result`` event, or None if the CLI never printed one (crash/kill)."""
        last = None
        for ev in events:
            if ev.get("kind") == "result":
                last = ev
        return last


def unknown(obj: dict[str, Any], raw: str) -> AgentEvent:
    kind = obj.get("type")
    return event("system", str(kind or ""), raw, subtype=str(kind or "unknown"))


def result_event(
    raw: str,
    text: str,
    *,
    is_error: bool,
    input_tokens: Any = None,
    output_tokens: Any = None,
    cost_usd: Any = None,
    duration_ms: Any = None,
    session_id: Any = None,
    subtype: str = "result",
) -> AgentEvent:
    return event(
        "result",
        text,
        raw,
        subtype=subtype,
        is_error=bool(is_error),
        input_tokens=as_int(input_tokens),
        output_tokens=as_int(output_tokens),
        cost_usd=as_float(cost_usd),
        duration_ms=as_int(duration_ms),
        session_id=str(session_id) if session_id is not None else None,
    )
