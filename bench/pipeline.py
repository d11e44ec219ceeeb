"""5e. Pipelines (Run → Start Workflow) with instant agents: the hub's own time between phases, and
the HTTP latency other clients see while 5 pipelines run."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.agent_support import ROOT, custom_command, stamp
from bench.client import HttpConnection
from bench.hubs import bench_hub, workspace_url
from bench.report import Section, Table

PIPELINES = 5
DESIRED = 8
AGENT = ROOT / "bench" / "pipeline_agent.py"
DEFAULT_FILE = ROOT / "agents" / "builtin_pipelines" / "default.md"
FINISHED = ("completed", "failed", "cancelled")


def instant_pipeline(folder: Path) -> Path:
    """The built-in pipeline with every agent the instant stand-in (``custom``)."""
    text = DEFAULT_FILE.read_text()
    text = text.replace("agents: [claude, codex, gemini]", "agents: [custom, custom, custom]")
    for agent in ("gemini", "claude", "codex"):
        text = text.replace(f"agents: [{agent}]", "agents: [custom]")
    path = folder / "pipeline.md"
    path.write_text(text)
    return path


async def poll(http: HttpConnection, path: str, done: Any, timeout: float = 300) -> Any:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        body = await http.json("GET", path, expect=200)
        if done(body):
            return body
        await asyncio.sleep(0.02)
    raise TimeoutError(path)


async def one_pipeline(http: HttpConnection, pid: int) -> dict[str, Any]:
    node = await http.json("POST", f"/projects/{pid}/nodes", {"title": f"n{time.monotonic_ns()}"}, expect=201)
    nid = node["id"]  # type: ignore[index]
    started = time.perf_counter()
    launched = await http.json("POST", f"/projects/{pid}/nodes/{nid}/launch-pipeline", {}, expect=201)
    eid = launched["execution_id"]  # type: ignore[index]
    await poll(http, f"/projects/{pid}/nodes/{nid}/synthesis", lambda b: b["status"] == "needs_review")
    gate = time.perf_counter()
    await http.json("POST", f"/projects/{pid}/nodes/{nid}/feedback", {"answers": {"0": "yes"}}, expect=200)
    approved = time.perf_counter()
    execution = await poll(http, f"/projects/{pid}/executions/{eid}", lambda b: b["status"] in FINISHED)
    ended = time.perf_counter()
    steps = execution["step_runs"]
    in_agents = 0.0
    phases: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for step in steps:
        phases.setdefault((step["name"].split(" · ")[0], 0), []).append(step)
    for group in phases.values():
        in_agents += max(stamp(s["finished_at"]) for s in group) - min(stamp(s["started_at"]) for s in group)
    wall = (gate - started) + (ended - approved)
    return {"status": execution["status"], "wall": wall, "agents": in_agents, "overhead": wall - in_agents}


async def latency_probe(http: HttpConnection, pid: int, stop: asyncio.Event) -> list[float]:
    times = []
    while not stop.is_set():
        t0 = time.perf_counter()
        await http.json("GET", f"/projects/{pid}/graph", expect=200)
        times.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.01)
    return times


async def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "ORCHESTRA_CUSTOM_AGENT_COMMAND": custom_command(AGENT),
            "ORCHESTRA_MAX_RUNNING": str(DESIRED),
            "ORCHESTRA_PIPELINE_FILE": str(instant_pipeline(Path(folder))),
        }
        with bench_hub("memory", **env) as hub:
            setup = HttpConnection("127.0.0.1", hub.port)
            project = await setup.json(
                "POST", "/projects", {"name": f"bench pipeline {time.monotonic_ns()}"}, expect=201
            )
            pid, workspace = int(project["id"]), str(project["workspace_path"])  # type: ignore[index]
            await setup.json("PUT", workspace_url(workspace), {"desired": DESIRED}, expect=200)
            alone = await one_pipeline(setup, pid)  # one pipeline alone: the hub's overhead
            probe_http = HttpConnection("127.0.0.1", hub.port)
            idle_stop = asyncio.Event()
            idle_task = asyncio.create_task(latency_probe(probe_http, pid, idle_stop))
            await asyncio.sleep(3)
            idle_stop.set()
            idle = await idle_task
            stop = asyncio.Event()
            probe = asyncio.create_task(latency_probe(probe_http, pid, stop))
            clients = [HttpConnection("127.0.0.1", hub.port) for _ in range(PIPELINES)]
            started = time.perf_counter()
            runs = await asyncio.gather(*(one_pipeline(c, pid) for c in clients))
            together = time.perf_counter() - started
            stop.set()
            loaded = await probe
            for http in [setup, probe_http, *clients]:
                await http.close()
    return {"alone": alone, "runs": runs, "together": together, "idle": sorted(idle), "loaded": sorted(loaded)}


def p99(values: list[float]) -> float:
    return values[max(0, round(len(values) * 0.99) - 1)]


def run() -> Section:
    section = Section(
        key="pipeline",
        title="5e. Pipelines with instant agents: hub overhead, and HTTP p99 while 5 run",
        target="figures (the issue sets no number); every pipeline completes",
    )
    r = asyncio.run(measure())
    alone = r["alone"]
    table = Table(["Figure", "Value"])
    table.add("one pipeline alone: status", alone["status"])
    table.add("one pipeline alone: launch → gate + approve → end", f"{alone['wall'] * 1000:.0f} ms")
    table.add("of which inside agents (per phase, first start → last end)", f"{alone['agents'] * 1000:.0f} ms")
    table.add("hub overhead (the rest: 5 phase changes, 9 step claims, the gate)", f"{alone['overhead'] * 1000:.0f} ms")
    overheads = [run["overhead"] * 1000 for run in r["runs"]]
    table.add(f"{PIPELINES} at once: statuses", ", ".join(sorted({run["status"] for run in r["runs"]})))
    table.add(
        f"{PIPELINES} at once: hub overhead per pipeline, median / max",
        f"{statistics.median(overheads):.0f} / {max(overheads):.0f} ms",
    )
    table.add(f"{PIPELINES} at once: all done in", f"{r['together']:.1f} s")
    table.add(
        "GET /projects/{pid}/graph p50 / p99, idle",
        f"{statistics.median(r['idle']):.1f} / {p99(r['idle']):.1f} ms ({len(r['idle'])} requests)",
    )
    table.add(
        f"same while {PIPELINES} pipelines run",
        f"{statistics.median(r['loaded']):.1f} / {p99(r['loaded']):.1f} ms ({len(r['loaded'])} requests)",
    )
    section.tables.append(table)
    section.met = alone["status"] == "completed" and all(run["status"] == "completed" for run in r["runs"])
    section.notes += [
        f"In-memory layer, SQLite, one `serve` with its runner; `ORCHESTRA_MAX_RUNNING={DESIRED}` and the workspace's "
        f"desired {DESIRED}. Every agent is `bench/pipeline_agent.py` (`custom`, a Python start-up of ~50 ms) through "
        "`ORCHESTRA_PIPELINE_FILE`: the built-in pipeline with its agents replaced. One question at review, "
        "approved at once by the client; the critics vote YES, so each run is 9 agent calls (1 + 3 + 1 + 1 + 3).",
        "Hub overhead = the client's wall time (launch → node `needs_review`, then approve → execution finished) "
        "minus the time inside agents (for each phase, its first step's start to its last step's end). It "
        "includes the client's polling every 20 ms. With 5 at once it also includes waiting for one of the 8 slots "
        "(5 ideation or critic phases want 15 agents at once).",
    ]
    return section
