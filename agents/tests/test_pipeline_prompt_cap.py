"""The pipeline's prompts go on the agent's stdin: one far over Linux's 128 KiB per argument is
kept whole, and only one over ``PROMPT_MAX_BYTES`` is cut, with a note saying so."""

from __future__ import annotations

from agents.services.pipelines.prompts import CUT_NOTE, PROMPT_MAX_BYTES, VALUE_MAX_CHARS, cap_prompt, render_prompt


def test_a_300_kb_prompt_is_kept_whole() -> None:
    values = {"ideation": {name: "i" * VALUE_MAX_CHARS for name in ("claude", "codex", "gemini", "claude_2")}}
    template = "Plans:\n" + "\n".join("{{ideation.%s}}" % name for name in values["ideation"]) * 2  # noqa: UP031
    prompt = render_prompt(template, values)
    assert len(prompt.encode()) > 300_000
    assert CUT_NOTE not in prompt


def test_a_prompt_over_the_cap_is_cut_with_a_note_on_a_character_boundary() -> None:
    prompt = cap_prompt("é" * PROMPT_MAX_BYTES)
    assert prompt.endswith(CUT_NOTE) and len(prompt.encode()) <= PROMPT_MAX_BYTES
    assert prompt.removesuffix(CUT_NOTE) == "é" * len(prompt.removesuffix(CUT_NOTE))
