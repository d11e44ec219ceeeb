"""The agent of the chaos tests: it leaves a trace of every start and every finish.

``chaos_agent.py MARKERS PROMPT``: the prompt's first line is ``chaos NODE SECONDS``. The agent
appends one JSON line to ``MARKERS/events.jsonl`` when it starts and one when its work is done,
prints a line every half second meanwhile (the hub writes each one to the database), then its
answer. While it works it holds an exclusive lock on ``MARKERS/NODE.lock``: a second agent of the
same node that starts meanwhile records an ``overlap`` (the lock dies with its holder, even on
SIGKILL, so a killed agent never leaves a false one). Like a CLI waiting on its model, it does not
notice that nobody reads its output any more: a write to a closed pipe is ignored, so an agent
whose runner died works on until it is killed or done.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

STEP_RUN_ENV = "ORCHESTRA_STEP_RUN"  # agents.environment.STEP_RUN_ENV, set by the hub


def record(markers: Path, event: str, node: str) -> None:
    line = {
        "event": event,
        "node": node,
        "pid": os.getpid(),
        "step_run": os.environ.get(STEP_RUN_ENV),
        "t": time.time(),
    }
    with (markers / "events.jsonl").open("a") as file:
        file.write(json.dumps(line) + "\n")


def say(text: str) -> None:
    try:
        os.write(1, f"{text}\n".encode())
    except OSError:
        pass  # the runner is gone: work on


def main() -> None:
    markers, prompt = Path(sys.argv[1]), sys.argv[2]
    _, node, seconds = prompt.splitlines()[0].split()
    record(markers, "start", node)
    lock = (markers / f"{node}.lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        record(markers, "overlap", node)
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        say(f"{node} working")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    record(markers, "finish", node)
    say(f"{node} done")


if __name__ == "__main__":
    main()
