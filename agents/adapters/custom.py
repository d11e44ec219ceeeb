"""Adapter for a user-configured command (any CLI that prints plain text).

The template supplies an argv list, e.g. ``["mytool", "--prompt", "{prompt}"]``.  Each
element that is *exactly* ``{prompt}`` is replaced by the prompt; nothing else is
substituted (no format strings, no shell), so the prompt stays one argv element.  At least
one ``{prompt}`` element is required.  Whether a prompt starting with ``-`` can be read as
a flag depends on the tool: put ``--`` before ``{prompt}`` if the tool understands it.
Unlike the built-in CLIs, the prompt travels in argv here (stdin is ``/dev/null``): it is
visible in ``ps`` and one argument is limited to 128 KiB by Linux (a longer prompt fails to
start with "Argument list too long").

Every non-empty stdout line is a ``text`` event (``raw`` = the line); ``final_result``
synthesizes the ``result`` with ``text`` = all stdout text joined by newlines (token and
cost fields are None: a plain tool reports none).  ``extra_args`` are appended after the
configured command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .base import Adapter, AgentEvent, StepSettings, event, result_event

PLACEHOLDER = "{prompt}"


class CustomAdapter(Adapter):
    name = "custom"

    def __init__(self, command: Sequence[str]) -> None:
        super().__init__()
        command = [str(c) for c in command]
        if not command or not command[0]:
            raise ValueError("custom agent: the command list is empty")
        if PLACEHOLDER not in command[1:]:
            raise ValueError(f"custom agent: the command must contain a {PLACEHOLDER!r} element")
        self.command = command
        self.binary = command[0]

    def build_argv(
        self,
        settings: StepSettings,
        binary_path: Path | str,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        rest = [settings.prompt if c == PLACEHOLDER else c for c in self.command[1:]]
        return [str(binary_path), *rest, *settings.extra_args]

    def stdin_prompt(self, settings: StepSettings) -> str | None:
        return None  # the prompt is in argv: the command's contract

    def parse_line(self, line: str) -> list[AgentEvent]:
        raw = line.rstrip("\r\n")
        # Blank lines are part of the answer, but only as separators (see final_result).
        return [event("text", raw, raw, subtype="plain")] if raw.strip() else []

    def final_result(self, events: Iterable[AgentEvent]) -> AgentEvent | None:
        texts = [ev["text"] for ev in events if ev.get("kind") == "text"]
        return result_event("", "\n".join(texts), is_error=False, duration_ms=self.elapsed_ms())
