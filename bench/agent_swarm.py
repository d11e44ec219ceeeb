"""5c. Fifty concurrent agents on this machine, and the hub's own CPU share while they run."""

from __future__ import annotations

import asyncio
import time

from bench.agent_support import FAKE_AGENT, AgentProject, custom_command
from bench.client import HttpConnection
from bench.hubs import BenchHub, bench_hub, workspace_url
from bench.report import Section, Table

AGENTS = 50
SECONDS = "10"


async def running_count(http: HttpConnection, workspace: str) -> int:
    data = await http.json("GET", workspace_url(workspace, None), expect=200)
    assert isinstance(data, dict)
    return int(data["workspace"]["running"])


async def measure(hub: BenchHub) -> dict[str, float]:
    http = HttpConnection("127.0.0.1", hub.port)
    project = await AgentProject(http).create(SECONDS)
    await http.json("PUT", workspace_url(project.workspace), {"desired": AGENTS}, expect=200)
    connections = [HttpConnection("127.0.0.1", hub.port) for _ in range(10)]

    async def launch_five(conn: HttpConnection) -> list[dict[str, object]]:
        return [await project.launch(conn) for _ in range(AGENTS // len(connections))]

    started = time.perf_counter()
    launched = [e for batch in await asyncio.gather(*(launch_five(c) for c in connections)) for e in batch]
    launch_seconds = time.perf_counter() - started
    peak = 0
    all_running = None
    while all_running is None and time.perf_counter() - started < 60:
        peak = max(peak, await running_count(http, project.workspace))
        if peak >= AGENTS:
            all_running = time.perf_counter() - started
        await asyncio.sleep(0.05)
    # The steady state: every agent runs; sample serve's CPU over 5 s of it.
    cpu0, wall0, idle0 = hub.cpu_seconds(), time.perf_counter(), machine_idle()
    await asyncio.sleep(5)
    steady = (hub.cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
    machine_busy = 1 - (machine_idle() - idle0) / (time.perf_counter() - wall0) / 2
    results = [await project.wait_finished(int(str(e["id"])), timeout=120, every=0.25) for e in launched]
    total = time.perf_counter() - started
    for conn in connections:
        await conn.close()
    await http.close()
    return {
        "launch": launch_seconds,
        "all_running": all_running if all_running is not None else float("nan"),
        "peak": peak,
        "steady_cpu": steady,
        "machine_busy": machine_busy,
        "whole_cpu": (hub.cpu_seconds() - cpu0) / (time.perf_counter() - wall0),
        "total": total,
        "completed": sum(r["status"] == "completed" for r in results),
    }


def machine_idle() -> float:
    """Idle seconds of the whole machine (all cores) since boot, from /proc/stat."""
    from bench.hubs import CLOCK_TICKS

    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return (int(fields[4]) + int(fields[5])) / CLOCK_TICKS


def run() -> Section:
    section = Section(
        key="agent_swarm",
        title=f"5c. Agents: {AGENTS} concurrent agents",
        target=f"all {AGENTS} agents run at once; the hub's own CPU share stays small",
    )
    env = {
        "ORCHESTRA_CUSTOM_AGENT_COMMAND": custom_command(FAKE_AGENT),
        "ORCHESTRA_MAX_RUNNING": str(AGENTS),
        "ORCHESTRA_MAX_DESIRED": str(AGENTS),
    }
    with bench_hub("memory", **env) as hub:
        r = asyncio.run(measure(hub))
    table = Table(["Figure", "Value"])
    table.add(f"{AGENTS} launch requests answered (10 connections)", f"{r['launch']:.2f} s")
    table.add(f"first launch sent → {AGENTS} agents running", f"{r['all_running']:.2f} s")
    table.add("most agents running at once", f"{r['peak']:.0f}")
    share = f"{r['steady_cpu']:.2f} cores ({r['steady_cpu'] / 2:.0%} of the machine)"
    table.add("serve CPU while all run (5 s sample)", share)
    table.add("whole machine busy in that sample (agents, hub, bench)", f"{r['machine_busy']:.0%}")
    table.add("serve CPU from all running to all finished", f"{r['whole_cpu']:.2f} cores")
    table.add(f"first launch → all {AGENTS} finished", f"{r['total']:.1f} s")
    table.add("executions completed", f"{r['completed']:.0f} of {AGENTS}")
    section.tables.append(table)
    section.met = r["peak"] >= AGENTS and r["completed"] == AGENTS and r["steady_cpu"] < 0.5
    section.notes += [
        f"In-memory layer, SQLite; `ORCHESTRA_MAX_RUNNING={AGENTS}`, `ORCHESTRA_MAX_DESIRED={AGENTS}`, the project's "
        f"workspace set to desired {AGENTS} with a PUT. Each agent is `bench/fake_agent.py {SECONDS}`: it runs "
        f"{SECONDS} s and prints a line every 0.5 s (so {AGENTS * 2} lines/s reach the hub in total).",
        "serve CPU counts the serve process only (its threads: web, runner, one worker thread per agent), "
        "not the agents; met when it stays under half a core while all agents run.",
        "The running count is polled every 50 ms through `GET /api/orchestration/workspace/<id>`.",
    ]
    return section
