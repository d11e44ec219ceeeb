"""``python -m bench [NAME ...]``: run the benchmarks and write ``docs/benchmarks.md``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.hubs import raise_open_files_limit  # noqa: E402
from bench.machine import machine_markdown  # noqa: E402
from bench.report import Section, write  # noqa: E402

# name → module with ``run() -> Section``, in the order of the document.
BENCHMARKS = {
    "fanout": "bench.fanout",
    "idle_sockets": "bench.idle_sockets",
    "put_rps": "bench.put_rps",
    "update_cost": "bench.update_cost",
    "projects": "bench.projects_api",
    "agent_launch": "bench.agent_launch",
    "agent_logs": "bench.agent_logs",
    "agent_swarm": "bench.agent_swarm",
    "agent_deltas": "bench.agent_deltas",
    "dag_run": "bench.dag_run",
    "pipeline": "bench.pipeline",
    "console": "bench.console_pages",
    "overhead": "bench.overhead",
    "latency": "bench.latency",
    "workers": "bench.workers",
    "mixed_load": "bench.mixed_load",
    "idle_cpu": "bench.idle_cpu",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    parser.add_argument("--no-write", action="store_true", help="print the sections, leave the document")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    print(f"open files limit: {raise_open_files_limit()}", flush=True)
    sections: list[Section] = []
    failed = 0
    for name in names:
        started, load = time.monotonic(), os.getloadavg()[0]
        print(f"== {name}", flush=True)
        try:
            section = importlib.import_module(BENCHMARKS[name]).run()
        except Exception:
            failed += 1
            traceback.print_exc()
            section = Section(key=name, title=f"{name}", target="(the benchmark failed)", met=False)
            section.notes.append("The benchmark raised; see the output of `make bench`.")
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section.notes.append(
            f"Measured {when} in {time.monotonic() - started:.0f} s; the machine's 1-minute load average was "
            f"{load:.2f} just before (other processes on the machine share its two cores)."
        )
        print(section.markdown(), flush=True)
        sections.append(section)
    if not args.no_write:
        write(sections, machine_markdown(), order=list(BENCHMARKS))
        print("wrote docs/benchmarks.md", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
