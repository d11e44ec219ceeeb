"""The argv of a follow-up message: each CLI continues the recorded session (no Django, no
subprocesses; ``test_messages_clis.py`` runs the real CLIs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.adapters import get_adapter
from agents.adapters.base import StepSettings

WS = Path("/ws")
SESSION = "0f3c9a2e-7c6a-49d2-85d9-0b0db3566015"


def resumed(prompt: str = "go on") -> StepSettings:
    return StepSettings(prompt=prompt, workspace=WS, resume_session=SESSION)


def test_claude_resumes_with_the_joined_flag_and_the_prompt_on_stdin() -> None:
    adapter = get_adapter("claude")
    argv = adapter.build_argv(resumed("--version"), "/bin/claude")
    assert argv[-1] == f"--resume={SESSION}"
    assert adapter.stdin_prompt(resumed("--version")) == "--version"


def test_gemini_resumes_with_the_joined_flag_and_the_prompt_on_stdin() -> None:
    adapter = get_adapter("gemini")
    argv = adapter.build_argv(resumed("-y"), "/bin/gemini")
    assert argv[-2:] == [f"--resume={SESSION}", "--prompt="]
    assert adapter.stdin_prompt(resumed("-y")) == "-y"


def test_codex_uses_exec_resume_with_the_sandbox_as_configuration() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": "k"}
    argv = get_adapter("codex").build_argv(resumed("--help"), "/bin/codex", env)
    assert argv[:5] == ["/bin/codex", "exec", "resume", "--json", "--skip-git-repo-check"]
    assert '--config=sandbox_mode="workspace-write"' in argv
    assert not any(arg.startswith(("--cd", "--sandbox=")) for arg in argv)  # exec resume has neither
    assert argv[-3:] == ["--", SESSION, "-"]  # ``-``: the follow-up prompt is read from stdin


def test_a_new_session_is_unchanged() -> None:
    for agent in ("claude", "codex", "gemini"):
        argv = get_adapter(agent).build_argv(StepSettings(prompt="hi", workspace=WS), f"/bin/{agent}")
        assert "resume" not in argv and not any(arg.startswith("--resume") for arg in argv)


@pytest.mark.parametrize("session", ["", "-rf", "--last", "a b", "a;b", "x" * 201, "é", "a\nb"])
def test_a_session_id_that_could_be_read_as_an_option_or_is_odd_is_refused(session: str) -> None:
    with pytest.raises(ValueError, match="not a session id"):
        StepSettings(prompt="hi", workspace=WS, resume_session=session)


def test_claude_resumes_streaming_its_deltas_within_its_budget() -> None:
    settings = StepSettings(prompt="go on", workspace=WS, resume_session=SESSION, max_budget_usd=0.25)
    argv = get_adapter("claude").build_argv(settings, "/bin/claude")
    assert "--include-partial-messages" in argv and "--output-format=stream-json" in argv
    assert argv[-2:] == ["--max-budget-usd=0.250000", f"--resume={SESSION}"]
    assert "go on" not in argv and get_adapter("claude").stdin_prompt(settings) == "go on"
