"""5b. Log throughput: a chatty agent's lines to a terminal WebSocket and to the database."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from bench.agent_support import CHATTY_AGENT, AgentProject, custom_command, stamp
from bench.client import HttpConnection
from bench.hubs import LAYER_LABEL, BenchHub, bench_hub, measurable_layers
from bench.report import Section, Table

LINES = 20_000


@dataclass
class Received:
    outputs: int = 0
    first: float = 0.0
    last: float = 0.0
    seqs: list[int] = field(default_factory=list)
    status: bool = False


async def read_terminal(url: str, received: Received) -> None:
    async with connect(url, max_size=None, ping_interval=None) as ws:
        async for message in ws:
            frame = json.loads(message)
            if frame.get("type") == "output":
                received.last = time.time()
                received.first = received.first or received.last
                received.outputs += 1
                received.seqs.append(frame["seq"])
            elif frame.get("type") == "status":
                received.status = True
                return


async def measure(hub: BenchHub) -> dict[str, float]:
    http = HttpConnection("127.0.0.1", hub.port)
    project = await AgentProject(http).create(str(LINES))
    cpu_before, wall_before = hub.cpu_seconds(), time.perf_counter()
    execution = await project.launch()
    eid = int(execution["id"])
    received = Received()
    reader = asyncio.create_task(
        read_terminal(f"{hub.ws_url}/projects/{project.pid}/executions/{eid}/terminal", received)
    )
    done = await project.wait_finished(eid, timeout=300, every=0.25)
    try:
        await asyncio.wait_for(reader, timeout=10)
    except TimeoutError:
        pass  # frames were lost: the status frame never came
    cpu = (hub.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
    entries = [e for e in await project.log(eid) if e["kind"] == "output"]
    stored_bytes = sum(len(json.dumps(e["data"])) for e in entries)
    await http.close()
    stored_first, stored_last = stamp(entries[0]["created_at"]), stamp(entries[-1]["created_at"])
    agent_seconds = stamp(done["step_runs"][0]["finished_at"]) - stamp(done["step_runs"][0]["started_at"])
    gaps = sum(b - a > 1 for a, b in zip(received.seqs, received.seqs[1:], strict=False))
    return {
        "stored": len(entries),
        "bytes_per_line": stored_bytes / max(len(entries), 1),
        "stored_rate": len(entries) / max(stored_last - stored_first, 1e-6),
        "received": received.outputs,
        "socket_rate": received.outputs / max(received.last - received.first, 1e-6),
        "gaps": gaps,
        "status": received.status,
        "agent_seconds": agent_seconds,
        "lag": received.last - stored_last,
        "cpu": cpu,
    }


def run() -> Section:
    section = Section(
        key="agent_logs",
        title="5b. Agents: log throughput of a chatty agent",
        target=f"figures only; every one of the {LINES:,} lines stored and streamed",
    )
    table = Table(
        [
            "Layer",
            "Lines stored",
            "Stored rows/s",
            "Stored bytes/line",
            "Lines on the socket",
            "Socket lines/s",
            "Gaps in seq",
            "Status frame",
            "Step run time (s)",
            "serve CPU",
        ]
    )
    complete = []
    for layer in measurable_layers(section.notes):
        with bench_hub(layer, ORCHESTRA_CUSTOM_AGENT_COMMAND=custom_command(CHATTY_AGENT)) as hub:
            r = asyncio.run(measure(hub))
        table.add(
            LAYER_LABEL[layer],
            f"{r['stored']:,.0f}",
            f"{r['stored_rate']:,.0f}",
            f"{r['bytes_per_line']:,.0f}",
            f"{r['received']:,.0f}",
            f"{r['socket_rate']:,.0f}",
            f"{r['gaps']:.0f}",
            "yes" if r["status"] else "no",
            f"{r['agent_seconds']:.1f}",
            f"{r['cpu']:.2f}",
        )
        complete.append(r["stored"] == LINES and r["received"] == LINES)
    section.tables.append(table)
    section.met = bool(complete) and all(complete)
    section.notes += [
        f"`bench/chatty_agent.py` prints {LINES:,} lines of ~80 characters as fast as it can (one flush per "
        "line; alone it does this in well under a second). One client is connected to "
        "`/projects/{pid}/executions/{eid}/terminal` from just after the launch (it replays what it missed).",
        "Stored rows/s: output entries over the time between the first and the last one's `created_at`. "
        "Socket lines/s: output frames over the time between the first and the last received.",
        "Stored bytes/line: the output entries' stored frames as JSON text, per line of ~80 bytes (the line "
        "once, plus the frame's fields).",
        "Gaps in seq: places where the socket skipped stored entries (frames lost on the way).",
        "serve CPU: CPU seconds of serve per wall second from the launch until the execution finished and the "
        "socket was done (1.0 = one of the two cores).",
    ]
    return section
