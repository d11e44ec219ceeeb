"""``AgentProcess`` and ``run_to_completion`` (the planner's way to run a CLI, on ``AgentProcess``
like the runner's workers): lines as they come, over-long ones cut, memory bounded."""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from pathlib import Path

from agents.runner.process import AgentProcess, OutputLine, cut_marker, run_to_completion


def all_lines(process: AgentProcess) -> list[OutputLine]:
    lines: list[OutputLine] = []
    deadline = time.monotonic() + 30
    while not process.output_closed and time.monotonic() < deadline:
        lines.extend(process.read(timeout=1))
    process.wait(10)
    return lines


def test_it_collects_both_streams_and_the_exit_code_in_the_given_folder_and_environment(tmp_path: Path) -> None:
    script = (
        "import os, sys; print(os.getcwd()); print(os.environ.get('ONLY_THIS'), 'PATH' in os.environ);"
        "sys.stderr.write('oops\\n'); sys.exit(3)"
    )
    done = run_to_completion([sys.executable, "-c", script], cwd=tmp_path, env={"ONLY_THIS": "x"}, timeout=30)
    assert done.exit_code == 3
    assert done.timed_out is False
    assert done.stdout == [f"{tmp_path}\n", "x False\n"]
    assert done.stderr == "oops\n"


def test_at_its_timeout_the_whole_process_group_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time;"
        f"child = subprocess.Popen(['sleep', '60']); open({str(pid_file)!r}, 'w').write(str(child.pid));"
        "print('started', flush=True); time.sleep(60)"
    )
    started = time.monotonic()
    done = run_to_completion([sys.executable, "-c", script], cwd=tmp_path, env={}, timeout=1.5)
    assert time.monotonic() - started < 20
    assert done.timed_out is True
    assert done.stdout == ["started\n"]
    assert done.exit_code != 0
    grandchild = int(pid_file.read_text())
    for _ in range(100):  # killed at once; init may take a moment to reap it
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the grandchild {grandchild} outlived the timeout")


def test_a_line_over_the_cap_is_cut_and_marked_and_the_lines_around_it_are_whole(tmp_path: Path) -> None:
    script = (
        "import sys; w = sys.stdout.buffer.write; w(b'before\\n'); "
        "[w(b'\\xc3\\xa9' * 50_000) for _ in range(30)]; w(b'\\nafter\\n'); w(b'no newline at the end')"
    )
    process = AgentProcess([sys.executable, "-c", script], cwd=tmp_path, env={}, line_max=4096)
    before, long, after, last = all_lines(process)
    assert (before.text, before.cut, before.size) == ("before\n", 0, 7)
    assert long.size == 3_000_001 and long.cut == 3_000_000 - 4096
    assert long.text == "é" * 2048 + cut_marker(cut=long.cut, line_max=4096) + "\n"
    assert "more bytes cut" in long.text and "ORCHESTRA_AGENT_LINE_MAX_BYTES" in long.text
    assert (after.text, last.text) == ("after\n", "no newline at the end")
    assert process.printed == 7 + 3_000_001 + 6 + 21


def test_a_huge_line_is_never_held_whole_in_memory(tmp_path: Path) -> None:
    script = "import sys; [sys.stdout.buffer.write(b'x' * 1_000_000) for _ in range(20)]; print('end')"
    tracemalloc.start()
    try:
        process = AgentProcess([sys.executable, "-c", script], cwd=tmp_path, env={}, line_max=64 * 1024)
        lines = all_lines(process)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [line.size for line in lines] == [20_000_004]
    assert peak < 2_000_000, f"reading a 20 MB line took {peak} bytes at its peak"


def test_an_agent_that_prints_faster_than_it_is_read_waits_for_the_reader(tmp_path: Path) -> None:
    script = "import sys; [sys.stdout.buffer.write(b'y' * 99_999 + b'\\n') for _ in range(300)]"
    process = AgentProcess([sys.executable, "-c", script], cwd=tmp_path, env={})
    time.sleep(1.0)  # nobody reads: the queue fills up to its bound, then the agent waits on its pipe
    queued = process.printed
    assert queued < 12_000_000, f"{queued} bytes were read ahead of the reader"
    assert process.poll() is None  # still blocked on its pipe, not done
    lines = all_lines(process)
    assert len(lines) == 300 and process.poll() == 0


def test_the_prompt_is_written_on_stdin_while_the_agent_prints_and_stdin_is_closed_after_it(tmp_path: Path) -> None:
    # The agent prints 2 MB before it reads a word: writing stdin from its own thread is what keeps
    # the hub and the agent from each waiting on the other's full pipe.
    script = (
        "import sys; [sys.stdout.buffer.write(b'z' * 99_999 + b'\\n') for _ in range(20)];"
        "data = sys.stdin.buffer.read(); print(len(data), data[:6].decode(), data[-4:].decode())"
    )
    prompt = "begin " + "é" * 500_000 + " end"
    done = run_to_completion([sys.executable, "-c", script], cwd=tmp_path, env={}, timeout=30, stdin=prompt)
    assert (done.exit_code, done.timed_out) == (0, False)
    assert done.stdout[-1] == f"{len(prompt.encode())} begin   end\n"
    assert len(done.stdout) == 21


def test_without_a_prompt_stdin_is_dev_null_and_an_agent_that_ignores_stdin_still_ends(tmp_path: Path) -> None:
    read_stdin = "import sys; print(repr(sys.stdin.read()))"
    done = run_to_completion([sys.executable, "-c", read_stdin], cwd=tmp_path, env={}, timeout=30)
    assert done.stdout == ["''\n"]
    ignores_stdin = "print('done')"  # exits without reading a 5 MB prompt: the writer gives up, no hang
    done = run_to_completion(
        [sys.executable, "-c", ignores_stdin], cwd=tmp_path, env={}, timeout=30, stdin="x" * 5_000_000
    )
    assert (done.exit_code, done.stdout) == (0, ["done\n"])
