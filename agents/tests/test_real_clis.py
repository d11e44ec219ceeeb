"""Run the REAL pinned CLIs (node_modules/.bin) against tests/fake_model_server.py.

Each test launches the binary the way the hub does (argv list, cwd = workspace, an
allowlisted env, the prompt on stdin, own process group), parses stdout with the adapter, and
checks both what the CLI printed and what reached the (fake) model.  Skipped only when the
binary is missing (run ``npm ci`` in the project root).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agents.adapters import PROJECT_ROOT, get_adapter
from agents.adapters.base import AgentEvent, StepSettings
from agents.runner.process import AgentProcess, feed_stdin
from tests.agent_env import offline_env
from tests.fake_model_server import FakeModelServer

pytestmark = pytest.mark.cli

MODELS = {"claude": "claude-sonnet-4-5", "codex": "gpt-5-codex", "gemini": "gemini-2.5-flash"}
CLIS = list(MODELS)


def binary(cli: str) -> Path:
    path = PROJECT_ROOT / "node_modules" / ".bin" / cli
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"{path} is missing: run `npm ci` in {PROJECT_ROOT}")
    return path


@dataclass
class Run:
    returncode: int
    events: list[AgentEvent]
    stdout: str
    stderr: str
    seconds: float
    result: AgentEvent | None = field(default=None)


def launch(
    cli: str, server: FakeModelServer, tmp_path: Path, **kw: object
) -> tuple[subprocess.Popen[str], StepSettings, dict[str, str]]:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    adapter = get_adapter(cli)
    fields: dict[str, Any] = {"prompt": "Say hello", "model": MODELS[cli], **kw}
    step = StepSettings(workspace=workspace, **fields)
    env = offline_env(cli, server.url, tmp_path / "home")
    env.update(adapter.extra_env(step))
    argv = adapter.build_argv(step, binary(cli), env)
    prompt = adapter.stdin_prompt(step)
    read_end, write_end = os.pipe() if prompt is not None else (subprocess.DEVNULL, -1)
    proc = subprocess.Popen(
        argv,
        cwd=workspace,
        env=env,
        stdin=read_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    if prompt is not None:  # as the hub does: written from a thread, then closed
        os.close(read_end)
        threading.Thread(target=feed_stdin, args=(os.fdopen(write_end, "wb"), prompt.encode()), daemon=True).start()
    return proc, step, env


def run_cli(cli: str, server: FakeModelServer, tmp_path: Path, **kw: object) -> Run:
    started = time.monotonic()
    proc, _, _ = launch(cli, server, tmp_path, **kw)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{cli} timed out; stderr tail: {err[-2000:]}")
    adapter = get_adapter(cli)
    events = [ev for line in out.splitlines() for ev in adapter.parse_line(line)]
    return Run(proc.returncode, events, out, err, time.monotonic() - started, adapter.final_result(events))


def assert_ok(run: Run, server: FakeModelServer, calls: int = 1) -> AgentEvent:
    """Success, the fake reply as final text, and usage summed over ``calls`` model calls."""
    detail = f"rc={run.returncode}\nstdout={run.stdout[-3000:]}\nstderr={run.stderr[-3000:]}"
    assert run.returncode == 0, detail
    res = run.result
    assert res is not None, detail
    assert res["is_error"] is False, detail
    assert res["text"] == server.text
    assert (res["input_tokens"], res["output_tokens"]) == (calls * server.input_tokens, calls * server.output_tokens)
    assert res["session_id"]
    return res


@pytest.mark.parametrize("cli", CLIS)
def test_real_cli_result_and_tokens(cli: str, tmp_path: Path) -> None:
    with FakeModelServer("Hello from the fake model!", chunks=4, input_tokens=123, output_tokens=45) as server:
        run = run_cli(cli, server, tmp_path)
    res = assert_ok(run, server)
    assert "Say hello" in server.user_texts()
    assert [e for e in run.events if e["kind"] == "text"], "no text events streamed"
    assert isinstance(res["duration_ms"], int)
    if cli == "claude":
        assert res["cost_usd"] is not None  # claude prices the (fake) usage itself


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize("prompt", ["--version", "--help me", "-p", "-"])
def test_real_cli_dash_prompt_reaches_model(cli: str, prompt: str, tmp_path: Path) -> None:
    """A prompt that looks like a flag must reach the model as text, not change the CLI."""
    with FakeModelServer("ok") as server:
        run = run_cli(cli, server, tmp_path, prompt=prompt)
    assert_ok(run, server)
    texts = server.user_texts()
    assert prompt in texts, texts[-3:]


@pytest.mark.parametrize("cli", CLIS)
def test_real_cli_output_line_over_64k(cli: str, tmp_path: Path) -> None:
    text = "".join(f"word{i} " for i in range(15_000))  # ~110 KB in one answer
    with FakeModelServer(text, chunks=40) as server:
        run = run_cli(cli, server, tmp_path)
    assert_ok(run, server)
    if cli != "gemini":  # gemini streams deltas; claude and codex print it in one line
        assert max(len(e["raw"]) for e in run.events) > 64 * 1024


def test_real_claude_thinking_budget_reaches_model(tmp_path: Path) -> None:
    with FakeModelServer("ok") as server:
        run = run_cli("claude", server, tmp_path, thinking_budget=4096)
    assert_ok(run, server)
    body = server.model_requests()[-1]["body"]
    assert body["thinking"]["budget_tokens"] == 4096


def test_real_codex_reasoning_level_reaches_model(tmp_path: Path) -> None:
    with FakeModelServer("ok") as server:
        run = run_cli("codex", server, tmp_path, reasoning_level="high")
    assert_ok(run, server)
    assert server.model_requests()[-1]["body"]["reasoning"]["effort"] == "high"


@pytest.mark.parametrize("cli", CLIS)
def test_real_cli_slow_stream_then_sigterm(cli: str, tmp_path: Path) -> None:
    """A slow agent: SIGTERM to its process group stops it within a grace period.

    Exit codes differ (seen with the pinned versions): claude 143, codex -15 (killed by
    the signal), gemini **0** with no ``result`` line.  So a runner must decide
    "cancelled" itself and treat "no result event" as failure, whatever the exit code.
    """
    with FakeModelServer("slow " * 50, chunks=50, chunk_delay=0.2) as server:
        proc, _, _ = launch(cli, server, tmp_path)
        deadline = time.monotonic() + 60
        while not server.model_requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.model_requests(), f"{cli} never called the model"
        time.sleep(0.5)  # mid-stream
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"{cli} ignored SIGTERM for 10 s")
    adapter = get_adapter(cli)
    res = adapter.final_result(ev for line in out.splitlines() for ev in adapter.parse_line(line))
    assert res is None or res["is_error"] or res["text"] != server.text
    # Documented, not enforced: exit codes are the CLIs' business and may change.
    print(f"{cli} exit code after SIGTERM: {proc.returncode}")


@pytest.mark.parametrize("cli", CLIS)
def test_real_cli_tool_call_events(cli: str, tmp_path: Path) -> None:
    """The model asks for a shell command; the CLI runs it; both show up as events."""
    extra = ("--approval-mode=yolo",) if cli == "gemini" else ()  # auto_edit offers no shell
    with FakeModelServer("Tool done.", tool_command="echo out-42") as server:
        run = run_cli(cli, server, tmp_path, extra_args=extra)
    assert_ok(run, server, calls=2)
    uses = [e for e in run.events if e["kind"] == "tool_use"]
    results = [e for e in run.events if e["kind"] == "tool_result"]
    assert uses and "echo out-42" in uses[0]["text"], run.stdout[-2000:]
    assert results and "out-42" in results[0]["text"] and not results[0]["is_error"]
    assert len(server.model_requests()) == 2  # the call, then the answer after the result


def test_real_claude_default_mode_denies_shell_without_hanging(tmp_path: Path) -> None:
    with FakeModelServer("Tool done.", tool_command="python3 -c 'print(42)'") as server:
        run = run_cli("claude", server, tmp_path)
    assert_ok(run, server, calls=2)
    (denied,) = [e for e in run.events if e["kind"] == "tool_result"]
    assert denied["is_error"] is True


def test_real_gemini_default_mode_offers_no_shell(tmp_path: Path) -> None:
    with FakeModelServer("Tool done.", tool_command="echo out-42") as server:
        run = run_cli("gemini", server, tmp_path)
    assert_ok(run, server)
    assert not [e for e in run.events if e["kind"] == "tool_use"]


@pytest.mark.parametrize("cli", CLIS)
def test_real_cli_reads_a_300kb_prompt_from_stdin_and_no_process_shows_it(cli: str, tmp_path: Path) -> None:
    """The hub's way (``AgentProcess`` + the adapter): a prompt over Linux's 128 KiB per argument
    reaches the model whole, and while the agent runs no process of its group has it in its argv."""
    secret = "orchestra-secret-7f3a"
    prompt = f"{secret} " + "lorem ipsum " * 25_000 + "THE END"  # ~300 KB
    workspace = tmp_path / "ws"
    workspace.mkdir()
    adapter = get_adapter(cli)
    with FakeModelServer("ok", chunks=10, chunk_delay=0.3) as server:
        step = StepSettings(prompt=prompt, workspace=workspace, model=MODELS[cli])
        env = offline_env(cli, server.url, tmp_path / "home")
        argv = adapter.build_argv(step, binary(cli), env)
        process = AgentProcess(argv, cwd=workspace, env=env, line_max=1 << 20, stdin=adapter.stdin_prompt(step))
        try:
            deadline = time.monotonic() + 60
            while not server.model_requests() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.model_requests(), f"{cli} never called the model"
            cmdlines = group_cmdlines(process.pid)  # mid-reply: the agent and its children are running
            out: list[str] = []
            while not process.output_closed and time.monotonic() < deadline + 60:
                out += [line.text for line in process.read(timeout=1) if line.stream == "stdout"]
            exit_code = process.wait(30)
        finally:
            process.kill_tree()
    assert cmdlines and all(secret not in cmdline for cmdline in cmdlines), cmdlines
    result = adapter.final_result(ev for line in out for ev in adapter.parse_line(line))
    assert exit_code == 0 and result is not None and result["text"] == "ok", out[-3:]
    assert prompt in server.user_texts()


def group_cmdlines(pgid: int) -> list[str]:
    """The argv (``/proc/<pid>/cmdline``) of every live process in the process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
    return found
