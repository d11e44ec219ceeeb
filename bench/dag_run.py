"""5d. A 200-node DAG run: the hub's overhead from a node's parents done to the node started."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench.agent_support import FAKE_AGENT, custom_command, stamp
from bench.client import HttpConnection
from bench.hubs import bench_hub, workspace_url
from bench.report import Section, Table

LAYERS = 10
WIDTH = 20
DESIRED = 8
FINISHED = ("completed", "failed", "cancelled", "discarded")


async def build_dag(http: HttpConnection) -> tuple[int, str, dict[int, list[int]]]:
    """LAYERS x WIDTH nodes; node i of a layer depends on nodes i and i+1 of the layer above."""
    project = await http.json("POST", "/projects", {"name": f"bench dag {time.monotonic_ns()}"}, expect=201)
    assert isinstance(project, dict)
    pid, workspace = int(project["id"]), str(project["workspace_path"])
    parents: dict[int, list[int]] = {}
    above: list[int] = []
    for layer in range(LAYERS):
        row = []
        for i in range(WIDTH):
            wanted = [above[i], above[(i + 1) % WIDTH]] if above else []
            body = {"title": f"L{layer} N{i}", "agent_type": "custom", "prompt": "0", "parent_ids": wanted}
            node = await http.json("POST", f"/projects/{pid}/nodes", body, expect=201)
            assert isinstance(node, dict)
            parents[int(node["id"])] = wanted
            row.append(int(node["id"]))
        above = row
    return pid, workspace, parents


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of overlapping [start, end) spans (a sweep over the sorted ends)."""
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    current = peak = 0
    for _, delta in points:
        current += delta
        peak = max(peak, current)
    return peak


async def measure() -> dict[str, Any]:
    env = {"ORCHESTRA_CUSTOM_AGENT_COMMAND": custom_command(FAKE_AGENT), "ORCHESTRA_MAX_RUNNING": str(DESIRED)}
    with bench_hub("memory", **env) as hub:
        http = HttpConnection("127.0.0.1", hub.port)
        pid, workspace, parents = await build_dag(http)
        await http.json("PUT", workspace_url(workspace), {"desired": DESIRED}, expect=200)
        started = time.perf_counter()
        run = await http.json("POST", f"/projects/{pid}/dag-runs", {"max_retries": 0}, expect=201)
        assert isinstance(run, dict)
        polled_peak = 0
        while True:
            state = await http.json("GET", workspace_url(workspace, None), expect=200)
            polled_peak = max(polled_peak, int(state["workspace"]["running"]))  # type: ignore[index]
            body = await http.json("GET", f"/projects/{pid}/dag-runs/{run['id']}", expect=200)
            assert isinstance(body, dict)
            if body["status"] in FINISHED or time.perf_counter() - started > 600:
                break
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - started
        executions = await http.json("GET", f"/projects/{pid}/executions", expect=200)
        await http.close()
    assert isinstance(executions, list)
    by_id = {int(e["id"]): e for e in executions}
    execution_of = {n["node_id"]: by_id[n["execution_ids"][-1]] for n in body["nodes"] if n["execution_ids"]}
    spans = [(stamp(e["started_at"]), stamp(e["finished_at"])) for e in execution_of.values() if e["finished_at"]]
    finishes = sorted(end for _, end in spans)
    overheads, reactions = [], []
    for node_id, wanted in parents.items():
        if wanted and node_id in execution_of:
            parents_done = max(stamp(execution_of[p]["finished_at"]) for p in wanted)
            start = stamp(execution_of[node_id]["started_at"])
            overheads.append((start - parents_done) * 1000)
            # The last thing that could have let it start: its parents, or a slot freed by any agent.
            freed = max((end for end in finishes if end <= start), default=parents_done)
            reactions.append((start - max(parents_done, freed)) * 1000)
    overheads.sort()
    reactions.sort()
    return {
        "status": body["status"],
        "completed": sum(n["status"] == "completed" for n in body["nodes"]),
        "wall": wall,
        "p50": statistics.median(overheads),
        "p99": overheads[max(0, round(len(overheads) * 0.99) - 1)],
        "max": overheads[-1],
        "react50": statistics.median(reactions),
        "react99": reactions[max(0, round(len(reactions) * 0.99) - 1)],
        "peak": most_at_once(spans),
        "polled_peak": polled_peak,
        "children": len(overheads),
    }


def run() -> Section:
    nodes = LAYERS * WIDTH
    section = Section(
        key="dag_run",
        title=f"5d. Agents: a {nodes}-node DAG run under desired {DESIRED}",
        target=f"never more than {DESIRED} agents at once; the overhead from parents done to child started, figures",
    )
    r = asyncio.run(measure())
    table = Table(["Figure", "Value"])
    table.add("run status", f"{r['status']} ({r['completed']} of {nodes} nodes completed)")
    table.add(f"hub overhead, parents done → child started, p50 ({r['children']} children)", f"{r['p50']:.0f} ms")
    table.add("same, p99", f"{r['p99']:.0f} ms")
    table.add("same, max", f"{r['max']:.0f} ms")
    table.add("hub reaction, last parent or freed slot → child started, p50", f"{r['react50']:.0f} ms")
    table.add("same, p99", f"{r['react99']:.0f} ms")
    table.add("most agents running at once (from the executions' own times)", f"{r['peak']}")
    table.add("most agents running at once (polled every 50 ms)", f"{r['polled_peak']}")
    table.add(f"dag-run POST → all {nodes} nodes finished", f"{r['wall']:.1f} s")
    section.tables.append(table)
    section.met = r["status"] == "completed" and r["peak"] <= DESIRED and r["polled_peak"] <= DESIRED
    section.notes += [
        f"In-memory layer, SQLite, one `serve` with its runner; `ORCHESTRA_MAX_RUNNING={DESIRED}` and the workspace's "
        f"desired {DESIRED}. {LAYERS} layers of {WIDTH} nodes; node i of a layer depends on nodes i and i+1 of the "
        "layer above. Each node is `bench/fake_agent.py` answering at once (a Python start-up, ~50 ms).",
        "Overhead per child = its execution's `started_at` (the runner claimed its step) minus the latest "
        "`finished_at` of its parents' executions: advancing the DAG run, creating the execution with the "
        "parents' results in its prompt, and claiming a slot. A child that waits for a free slot (more than "
        f"{DESIRED} ready) counts that wait too, so these include queueing behind the {DESIRED} slots. "
        "The hub's reaction time leaves the queueing out: it "
        "counts from the later of the parents' end and the last end of any agent before the child started (the "
        "freed slot it took).",
    ]
    return section
