"""5a. Hub overhead from a launch to the agent process started (``bench/fake_agent.py``, prompt "0")."""

from __future__ import annotations

import asyncio
import time

from bench.agent_support import FAKE_AGENT, AgentProject, custom_command, stamp
from bench.client import HttpConnection
from bench.hubs import BenchHub, bench_hub
from bench.report import Section, Table, summary_ms

LAUNCHES = 20


async def measure(hub: BenchHub) -> dict[str, list[float]]:
    http = HttpConnection("127.0.0.1", hub.port)
    project = await AgentProject(http).create("0")
    figures: dict[str, list[float]] = {"claim": [], "step_start": [], "output": [], "client": [], "done": []}
    failed = 0
    for _ in range(LAUNCHES):
        sent = time.time()
        execution = await project.launch()
        created = stamp(execution["created_at"])
        done = await project.wait_finished(int(execution["id"]))
        failed += done["status"] != "completed"
        entries = await project.log(int(execution["id"]))
        first = {kind: stamp(e["created_at"]) for e in reversed(entries) for kind in [e["kind"]]}
        figures["claim"].append(stamp(done["step_runs"][0]["started_at"]) - created)
        figures["step_start"].append(first["step_start"] - created)
        figures["output"].append(first["output"] - created)
        figures["client"].append(first["output"] - sent)
        figures["done"].append(stamp(done["finished_at"]) - created)
        await asyncio.sleep(0.05)
    await http.close()
    if failed:
        raise RuntimeError(f"{failed} of {LAUNCHES} launches failed")
    return figures


def run() -> Section:
    section = Section(
        key="agent_launch",
        title="5a. Agents: hub overhead from launch to agent started",
        target="figures only (no target in the issues)",
    )
    with bench_hub("memory", ORCHESTRA_CUSTOM_AGENT_COMMAND=custom_command(FAKE_AGENT)) as hub:
        figures = asyncio.run(measure(hub))
    table = Table(["From → to", "p50 ms", "p99 ms", "mean ms", "max ms"])
    labels = {
        "claim": "execution created → step run claimed (`started_at`)",
        "step_start": "execution created → `step_start` log entry stored",
        "output": "execution created → agent's first output line stored",
        "client": "launch request sent → agent's first output line stored",
        "done": "execution created → execution finished",
    }
    for key, label in labels.items():
        table.add(label, *summary_ms(figures[key]))
    section.tables.append(table)
    section.notes += [
        f"{LAUNCHES} launches one after another (in-memory layer, SQLite) of a one-step template with "
        "`agent_type: custom` running `bench/fake_agent.py 0` (prints one line and exits).",
        "A launch wakes the runners on commit (`agents.wakeup.wake_runners`: this process's at once, others "
        "through the database). The first output also includes starting the agent's Python interpreter and the log "
        "writer's batching (it flushes every 0.1 s or 200 frames).",
        "Times are the hub's own timestamps (`created_at`, `started_at`, log entries), read back through the API.",
    ]
    return section
