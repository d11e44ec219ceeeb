"""5d. Token-by-token output: delta latency (the agent writes a piece → a socket has its frame)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from bench.agent_support import ROOT
from bench.client import HttpConnection
from bench.hubs import LAYER_LABEL, BenchHub, bench_hub, measurable_layers, workspace_url
from bench.report import Section, Table

AGENTS = 20
DELTAS = 100
INTERVAL = 0.05  # seconds between two deltas of one agent: 20 pieces a second, as a fast model writes
STREAMING_AGENT = ROOT / "bench" / "streaming_agent.py"


def fake_claude_dir() -> Path:
    """A folder whose ``claude`` runs ``bench/streaming_agent.py`` (``ORCHESTRA_AGENT_BIN_DIR``)."""
    folder = Path(tempfile.mkdtemp(prefix="orchestra-bench-deltas-"))
    script = folder / "claude"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STREAMING_AGENT}" "$@"\n')
    script.chmod(0o755)
    return folder


async def read_deltas(url: str, latencies: list[float], whole: list[str]) -> None:
    async with connect(url, max_size=None, ping_interval=None) as ws:
        async for message in ws:
            now = time.time()
            frame = json.loads(message)
            if frame.get("type") == "delta":
                latencies.append(now - float(frame["data"].rstrip(";")))
            elif frame.get("type") == "output" and (frame.get("event") or {}).get("kind") == "text":
                whole.append(frame["data"])
            elif frame.get("type") == "status":
                return


async def measure(hub: BenchHub) -> dict[str, float]:
    http = HttpConnection("127.0.0.1", hub.port)
    project = await http.json("POST", "/projects", {"name": f"bench deltas {time.monotonic_ns()}"}, expect=201)
    assert isinstance(project, dict)
    pid = int(project["id"])
    await http.json("PUT", workspace_url(str(project["workspace_path"])), {"desired": AGENTS}, expect=200)
    node = await http.json("POST", f"/projects/{pid}/nodes", {"title": "bench"}, expect=201)
    step = {"name": "stream", "agent_type": "claude", "prompt_template": f"{DELTAS} {INTERVAL}"}
    template = await http.json("POST", "/agent-templates", {"name": "deltas", "steps": [step]}, expect=201)
    assert isinstance(node, dict) and isinstance(template, dict)
    latencies: list[float] = []
    wholes: list[str] = []
    readers = []
    for _ in range(AGENTS):
        execution = await http.json(
            "POST", f"/projects/{pid}/nodes/{node['id']}/launch", {"template_id": template["id"]}, expect=201
        )
        assert isinstance(execution, dict)
        url = f"{hub.ws_url}/projects/{pid}/executions/{execution['id']}/terminal"
        readers.append(asyncio.create_task(read_deltas(url, latencies, wholes)))
    await asyncio.wait_for(asyncio.gather(*readers), timeout=180)
    await http.close()
    ordered = sorted(latencies)
    return {
        "deltas": len(latencies),
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max": ordered[-1] * 1000,
        "wholes": len(wholes),
    }


def run() -> Section:
    section = Section(
        key="agent_deltas",
        title=f"5e. Agents: delta latency with {AGENTS} agents streaming",
        target="p99 under 100 ms from the agent writing a piece to the socket's frame; every delta arrives",
    )
    table = Table(["Layer", "Deltas received", "p50 (ms)", "p99 (ms)", "max (ms)", "Whole messages"])
    met = []
    bin_dir = fake_claude_dir()
    env = {"ORCHESTRA_AGENT_BIN_DIR": str(bin_dir), "ORCHESTRA_MAX_RUNNING": str(AGENTS)}
    for layer in measurable_layers(section.notes):
        with bench_hub(layer, ORCHESTRA_MAX_DESIRED=str(AGENTS), **env) as hub:
            r = asyncio.run(measure(hub))
        table.add(
            LAYER_LABEL[layer],
            f"{r['deltas']:,.0f} of {AGENTS * DELTAS:,}",
            f"{r['p50']:.1f}",
            f"{r['p99']:.1f}",
            f"{r['max']:.1f}",
            f"{r['wholes']:.0f} of {AGENTS}",
        )
        met.append(r["p99"] < 100 and r["deltas"] == AGENTS * DELTAS)
    section.tables.append(table)
    section.met = bool(met) and all(met)
    section.notes += [
        f"{AGENTS} executions launched at once, each one `claude` step whose binary is `bench/streaming_agent.py` "
        f"(through `ORCHESTRA_AGENT_BIN_DIR`): it prints claude's stream-json with partial messages, {DELTAS} text "
        f"deltas {INTERVAL * 1000:.0f} ms apart ({AGENTS / INTERVAL:.0f} deltas/s across the hub), each holding the "
        "time it was written, then the whole message. One terminal socket per execution, connected right "
        "after its launch. Latency: the socket's receive time minus the time in the delta (same machine, same "
        "clock): the agent's pipe, the runner's parse, the broadcast (Redis, or the in-memory layer's outbox "
        "row), the socket.",
        "A delta written before its socket connected is not counted twice: a late socket simply misses it "
        "(the whole message still arrives), so fewer deltas than written can be received when the launches "
        "are slow (on PostgreSQL a launch takes longer, and the first deltas of the last agents come before "
        "their sockets).",
        "The runner sends what one read of the agent's pipe holds as soon as nothing more is queued, so at "
        f"{AGENTS / INTERVAL:.0f} deltas/s nearly every delta is a message of its own. With Redis each is a "
        "`group_send` from the process's one send loop (`orchestra_site/realtime/events.py`), which sends them "
        "one after another: at this rate the loop is the queue that the p99 measures. Coalescing a step's "
        "deltas over a few milliseconds, or the send loop sending what is queued for a group as one message, "
        "would cut that; neither is done yet.",
    ]
    return section
