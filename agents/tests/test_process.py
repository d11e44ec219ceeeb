"""``run_to_completion``: the planner's way to run a CLI, on ``AgentProcess`` like the runner's workers."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from agents.runner.process import run_to_completion


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
