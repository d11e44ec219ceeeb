# ruff: noqa: E501  (sample lines are verbatim CLI output)
"""Unit tests of argv building and line parsing (no Django, no subprocesses).

The sample lines are trimmed copies of what the pinned CLIs really printed against
tests/fake_model_server.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.adapters import AGENT_TYPES, PROJECT_ROOT, get_adapter, model_endpoint_env, resolve_binary
from agents.adapters.base import StepSettings
from agents.runner.process import cut_marker

WS = Path("/ws")
EVIL = "--version --dangerously-skip-permissions"


def settings(**kw: object) -> StepSettings:
    base: dict[str, object] = {"prompt": "hi", "workspace": WS}
    base.update(kw)
    return StepSettings(**base)  # type: ignore[arg-type]


# --- argv --------------------------------------------------------------------------------


def test_claude_argv() -> None:
    argv = get_adapter("claude").build_argv(
        settings(prompt=EVIL, model="sonnet", reasoning_level="high", extra_args=("--max-turns=3",)), "/bin/claude"
    )
    assert argv == [
        "/bin/claude",
        "-p",
        "--output-format=stream-json",
        "--verbose",
        "--include-partial-messages",
        "--permission-mode=acceptEdits",
        "--model=sonnet",
        "--effort=high",
        "--max-turns=3",
    ]
    assert EVIL not in " ".join(argv)  # the prompt goes on stdin


def test_claude_thinking_budget_env_and_permission_override() -> None:
    ad = get_adapter("claude")
    assert ad.extra_env(settings(thinking_budget=4096)) == {"MAX_THINKING_TOKENS": "4096"}
    assert ad.extra_env(settings()) == {}
    argv = ad.build_argv(settings(extra_args=("--permission-mode", "plan")), "claude")
    assert not any(a.startswith("--permission-mode=") for a in argv)


def test_codex_argv_with_endpoint() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"}
    argv = get_adapter("codex").build_argv(
        settings(prompt="-", model="gpt-5-codex", reasoning_level="high"), "/bin/codex", env
    )
    assert argv == [
        "/bin/codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--sandbox=workspace-write",
        "--cd=/ws",
        "--model=gpt-5-codex",
        '--config=model_reasoning_effort="high"',
        '--config=model_provider="hub"',
        '--config=model_providers.hub={name="hub",base_url="http://127.0.0.1:9/v1",'
        'wire_api="responses",env_key="OPENAI_API_KEY"}',
        "--",
        "-",  # read the prompt from stdin
    ]


def test_codex_argv_plain_and_toml_quoting() -> None:
    argv = get_adapter("codex").build_argv(
        settings(reasoning_level='x" , foo="bar', extra_args=("-s", "read-only")), "codex", {}
    )
    assert not any(a.startswith("--sandbox=") or "model_provider" in a for a in argv)
    assert '--config=model_reasoning_effort="x\\" , foo=\\"bar"' in argv
    assert argv[-2:] == ["--", "-"]


def test_gemini_argv() -> None:
    argv = get_adapter("gemini").build_argv(settings(prompt=EVIL, model="gemini-2.5-pro"), "g")
    assert argv == [
        "g",
        "--output-format=stream-json",
        "--approval-mode=auto_edit",
        "--model=gemini-2.5-pro",
        "--prompt=",  # headless; the prompt comes on stdin
    ]
    yolo = get_adapter("gemini").build_argv(settings(extra_args=("--yolo",)), "g")
    assert yolo == ["g", "--output-format=stream-json", "--yolo", "--prompt="]


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_the_builtin_clis_get_the_prompt_on_stdin_never_in_argv(agent: str) -> None:
    ad = get_adapter(agent)
    step = settings(prompt="secret plan " + "x" * 200_000)
    assert ad.stdin_prompt(step) == step.prompt
    assert not any("secret plan" in arg for arg in ad.build_argv(step, agent, {}))
    assert ad.stdin_prompt(settings(prompt="")) is None  # no prompt: stdin is /dev/null


def test_custom_argv_and_validation() -> None:
    ad = get_adapter("custom", ["mytool", "--prompt", "{prompt}", "x{prompt}"])
    assert ad.build_argv(settings(prompt="--rm -rf", extra_args=("-v",)), "/x/mytool") == [
        "/x/mytool",
        "--prompt",
        "--rm -rf",
        "x{prompt}",
        "-v",
    ]
    assert ad.stdin_prompt(settings()) is None  # a custom command keeps its prompt in argv; stdin is /dev/null
    with pytest.raises(ValueError):
        get_adapter("custom", ["mytool", "--prompt={prompt}"])
    with pytest.raises(ValueError):
        get_adapter("custom", [])
    with pytest.raises(ValueError):
        get_adapter("nope")


def test_endpoint_env_and_resolve_binary(tmp_path: Path) -> None:
    assert model_endpoint_env("claude", "http://h", "k")["ANTHROPIC_BASE_URL"] == "http://h"
    assert model_endpoint_env("codex", "http://h/v1")["OPENAI_BASE_URL"] == "http://h/v1"
    assert model_endpoint_env("gemini", "http://h")["GOOGLE_GEMINI_BASE_URL"] == "http://h"
    assert PROJECT_ROOT == Path(__file__).resolve().parents[2]
    bin_dir = tmp_path / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "claude").write_text("#!/bin/sh\n")
    (bin_dir / "claude").chmod(0o755)
    assert resolve_binary("claude", root=tmp_path) == bin_dir / "claude"
    assert resolve_binary("sh", root=tmp_path) is not None  # falls back to PATH
    assert resolve_binary("definitely-not-a-cli-xyz", root=tmp_path) is None


# --- parsing -----------------------------------------------------------------------------

CLAUDE_LINES = [
    '{"type":"system","subtype":"init","cwd":"/ws","session_id":"s-1","tools":["Bash"],"model":"claude-opus-5-5","permissionMode":"acceptEdits"}',
    '{"type":"assistant","message":{"id":"m1","role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"tool_use","id":"tu1","name":"Bash","input":{"command":"ls"}}]},"session_id":"s-1"}',
    '{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":[{"type":"text","text":"a.txt"}],"is_error":false}]}}',
    '{"type":"assistant","message":{"id":"m2","role":"assistant","content":[{"type":"text","text":"Done."}]}}',
    '{"type":"rate_limit_event","info":{}}',
    '{"duration_api_ms":19,"session_id":"s-1","total_cost_usd":0.000184,"usage":{"input_tokens":11,"output_tokens":7},"is_error":false,"num_turns":1,"subtype":"success","result":"Done.","type":"result","duration_ms":103}',
]


def kinds(events: list) -> list[str]:
    return [e["kind"] for e in events]


def test_claude_parse() -> None:
    ad = get_adapter("claude")
    events = [e for line in CLAUDE_LINES for e in ad.parse_line(line + "\n")]
    assert kinds(events) == ["system", "system", "tool_use", "tool_result", "text", "system", "result"]
    assert events[0]["session_id"] == "s-1" and events[1]["subtype"] == "thinking"
    assert events[2]["tool"] == "Bash" and events[2]["input"] == {"command": "ls"}
    assert events[3]["text"] == "a.txt" and events[3]["is_error"] is False
    res = ad.final_result(events)
    assert res is not None and res["text"] == "Done."
    assert (res["input_tokens"], res["output_tokens"], res["duration_ms"]) == (11, 7, 103)
    assert res["cost_usd"] == pytest.approx(0.000184) and res["is_error"] is False
    assert res["raw"] == CLAUDE_LINES[-1]  # newline stripped, otherwise verbatim


def test_claude_error_result() -> None:
    line = '{"type":"result","subtype":"error_max_turns","is_error":false,"errors":["too many"]}'
    (res,) = get_adapter("claude").parse_line(line)
    assert res["kind"] == "result" and res["is_error"] is True and res["text"] == "too many"
    assert res["input_tokens"] is None and res["cost_usd"] is None


CODEX_LINES = [
    '{"type":"thread.started","thread_id":"t-1"}',
    '{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `x` not found."}}',
    '{"type":"turn.started"}',
    '{"type":"item.completed","item":{"id":"item_1","type":"reasoning","text":"thinking"}}',
    '{"type":"item.started","item":{"id":"item_2","type":"command_execution","command":"bash -lc ls","aggregated_output":"","exit_code":null,"status":"in_progress"}}',
    '{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"bash -lc ls","aggregated_output":"a.txt\\n","exit_code":1,"status":"failed"}}',
    '{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"All done"}}',
    '{"type":"turn.completed","usage":{"input_tokens":11,"cached_input_tokens":0,"output_tokens":7}}',
]


def test_codex_parse() -> None:
    ad = get_adapter("codex")
    events = [e for line in CODEX_LINES for e in ad.parse_line(line)]
    assert kinds(events) == ["system", "error", "system", "system", "tool_use", "tool_result", "text", "result"]
    assert events[1]["is_error"] is False  # a notice, not a failure
    assert events[4]["tool"] == "shell" and events[5]["is_error"] is True
    res = ad.final_result(events)
    assert res is not None and res["text"] == "All done" and res["session_id"] == "t-1"
    assert (res["input_tokens"], res["output_tokens"], res["cost_usd"]) == (11, 7, None)


def test_codex_turn_failed() -> None:
    events = get_adapter("codex").parse_line('{"type":"turn.failed","error":{"message":"stream disconnected"}}')
    assert kinds(events) == ["error", "result"] and events[1]["is_error"] is True


GEMINI_LINES = [
    '{"type":"init","timestamp":"t","session_id":"g-1","model":"gemini-2.5-flash"}',
    '{"type":"message","timestamp":"t","role":"user","content":"--version"}',
    '{"type":"message","role":"assistant","content":"Let me look. ","delta":true}',
    '{"type":"tool_use","tool_name":"run_shell_command","tool_id":"c1","parameters":{"command":"ls"}}',
    '{"type":"tool_result","tool_id":"c1","status":"error","error":{"type":"x","message":"denied"}}',
    '{"type":"error","severity":"warning","message":"loop detected"}',
    '{"type":"message","role":"assistant","content":"Hello ","delta":true}',
    '{"type":"message","role":"assistant","content":"there","delta":true}',
    '{"type":"result","status":"success","stats":{"total_tokens":18,"input_tokens":11,"output_tokens":7,"duration_ms":47,"tool_calls":1}}',
]


def test_gemini_parse() -> None:
    ad = get_adapter("gemini")
    events = [e for line in GEMINI_LINES for e in ad.parse_line(line)]
    assert kinds(events) == [
        *("system", "system", "delta", "text", "tool_use", "tool_result", "error"),
        *("delta", "delta", "text", "result"),
    ]
    assert events[5]["is_error"] is True and events[5]["text"] == "denied"
    assert events[6]["is_error"] is False
    assert [e["text"] for e in events if e["kind"] in ("delta", "text")] == [
        *("Let me look. ", "Let me look. "),
        *("Hello ", "there", "Hello there"),
    ]
    res = ad.final_result(events)
    assert res is not None and res["text"] == "Hello there" and res["session_id"] == "g-1"
    assert (res["input_tokens"], res["output_tokens"], res["duration_ms"]) == (11, 7, 47)


def test_gemini_deltas_left_at_the_end_become_one_whole_message() -> None:
    ad = get_adapter("gemini")
    for line in GEMINI_LINES[2:3]:
        ad.parse_line(line)
    assert [(e["kind"], e["text"]) for e in ad.flush()] == [("text", "Let me look. ")]
    assert ad.flush() == []


def test_claude_text_deltas_become_delta_events_and_other_stream_events_nothing() -> None:
    ad = get_adapter("claude")
    delta = '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}}'
    start = '{"type":"stream_event","event":{"type":"message_start","message":{}}}'
    thinking = '{"type":"stream_event","event":{"type":"content_block_delta","delta":{"type":"thinking_delta","thinking":"x"}}}'
    assert [(e["kind"], e["text"]) for e in ad.parse_line(delta)] == [("delta", "Hel")]
    assert ad.parse_line(start) == [] and ad.parse_line(thinking) == []


def test_claude_argv_carries_the_budget() -> None:
    argv = get_adapter("claude").build_argv(settings(max_budget_usd=0.25), "/bin/claude")
    assert argv[-1] == "--max-budget-usd=0.250000"  # the prompt goes on stdin, never in argv


def test_codex_updates_of_a_message_become_the_deltas_they_add() -> None:
    ad = get_adapter("codex")
    updates = [
        '{"type":"item.updated","item":{"id":"m1","type":"agent_message","text":"Hel"}}',
        '{"type":"item.updated","item":{"id":"m1","type":"agent_message","text":"Hello"}}',
        '{"type":"item.updated","item":{"id":"m1","type":"agent_message","text":"Hello"}}',
        '{"type":"item.completed","item":{"id":"m1","type":"agent_message","text":"Hello"}}',
    ]
    events = [e for line in updates for e in ad.parse_line(line)]
    assert [(e["kind"], e["text"]) for e in events] == [("delta", "Hel"), ("delta", "lo"), ("text", "Hello")]


def test_custom_parse_and_result() -> None:
    ad = get_adapter("custom", ["t", "{prompt}"])
    events = [e for line in ["line one\n", "\n", '{"type":"result"}\n'] for e in ad.parse_line(line)]
    assert kinds(events) == ["text", "text"]  # JSON is just text for a custom tool
    res = ad.final_result(events)
    assert res is not None and res["text"] == 'line one\n{"type":"result"}'


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
@pytest.mark.parametrize(
    "line",
    [
        "plain progress text",
        "\x00\xff garbage {",
        "[1, 2, 3]",
        "null",
        "42",
        '"str"',
        '{"type": 5}',
        '{"no_type": true}',
        '{"type":"assistant","message":"oops"}',
        '{"type":"assistant","message":{"content":[1,null,{"type":"text"}]}}',
        '{"type":"result","usage":"bad","total_cost_usd":"abc","duration_ms":[]}',
        '{"type":"item.completed","item":null}',
        '{"type":"turn.completed","usage":[]}',
        '{"type":"message","role":"assistant","content":{"weird":1}}',
        '{"type":"result","stats":null}',
        '{"type":"brand_new_event","x":1}',
    ],
)
def test_garbage_never_raises(agent: str, line: str) -> None:
    for ev in get_adapter(agent).parse_line(line):
        assert ev["kind"] in ("system", "text", "tool_use", "tool_result", "error", "result")
        assert ev["raw"] == line and isinstance(ev["text"], str)


@pytest.mark.parametrize("agent", AGENT_TYPES)
def test_blank_and_non_json(agent: str) -> None:
    ad = get_adapter(agent, ["t", "{prompt}"] if agent == "custom" else None)
    assert ad.parse_line("   \n") == []
    (ev,) = ad.parse_line("Reading additional input from stdin...\n")
    assert ev["kind"] == "text" and ev["raw"] == "Reading additional input from stdin..."


def test_long_lines_over_64k() -> None:
    big = "x" * 200_000
    claude = get_adapter("claude").parse_line(
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "result": big,
                "usage": {"input_tokens": 1, "output_tokens": 2},
            }
        )
    )
    assert claude[0]["text"] == big and len(claude[0]["raw"]) > 64 * 1024
    codex = get_adapter("codex")
    codex.parse_line(json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": big}}))
    (res,) = codex.parse_line('{"type":"turn.completed","usage":{}}')
    assert res["text"] == big
    (plain,) = get_adapter("gemini").parse_line(big + "{")
    assert plain["kind"] == "text" and plain["text"] == big + "{"


@pytest.mark.parametrize("agent", AGENT_TYPES)
def test_a_line_the_hub_cut_reads_as_marked_text(agent: str) -> None:
    whole = CLAUDE_LINES[-1]
    cut = whole[:40] + cut_marker(cut=len(whole) - 40, line_max=40) + "\n"
    ad = get_adapter(agent, ["t", "{prompt}"] if agent == "custom" else None)
    (ev,) = ad.parse_line(cut)
    assert ev["kind"] == "text" and ev["text"] == cut.rstrip("\n")
    assert ev["text"].endswith("bytes (ORCHESTRA_AGENT_LINE_MAX_BYTES)]")
