"""9. Reads scale with workers: ``GET /health`` and ``GET /projects/{id}/graph`` per second from one
``serve`` with 1 worker and one with 2 (``ORCHESTRA_WORKERS``), on the embedded default."""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.client import HttpConnection, closed_loop
from bench.hubs import BenchHub, bench_hub
from bench.processes import child_pids, serving_pid
from bench.projects_api import node_body
from bench.report import Section, Table

NODES = 50
CONCURRENCY = 8
REQUESTS = {"/health": 1500, "graph": 600}
ROUNDS = 3
TARGET = 1.6


async def build(hub: BenchHub) -> int:
    http = HttpConnection("127.0.0.1", hub.port)
    project = await http.json("POST", "/projects", {"name": "bench workers"}, expect=201)
    assert isinstance(project, dict)
    pid, ids = int(project["id"]), list[int]()
    for i in range(NODES):
        node = await http.json("POST", f"/projects/{pid}/nodes", node_body(i, ids), expect=201)
        assert isinstance(node, dict)
        ids.append(int(node["id"]))
    await http.close()
    return pid


async def spread(hub: BenchHub) -> list[int]:
    """How many of CONCURRENCY connections opened at once each worker holds."""
    workers = child_pids(hub.pid) or [hub.pid]
    connections = [HttpConnection("127.0.0.1", hub.port) for _ in range(CONCURRENCY)]
    await asyncio.gather(*(connection.request("GET", "/health") for connection in connections))
    held = [
        serving_pid(connection.writer.get_extra_info("socket"), workers)
        for connection in connections
        if connection.writer is not None
    ]
    for connection in connections:
        await connection.close()
    return sorted((held.count(pid) for pid in workers), reverse=True)


async def rate(hub: BenchHub, path: str, total: int) -> tuple[float, float, float, int]:
    """Requests per second, hub CPU and client CPU per wall second, errors."""
    cpu0, client0, wall0 = hub.cpu_seconds_with_workers(), time.process_time(), time.perf_counter()
    result = await closed_loop(
        "127.0.0.1", hub.port, total=total, concurrency=CONCURRENCY, make=lambda i: ("GET", path, None)
    )
    wall = time.perf_counter() - wall0
    return (
        result.rps,
        (hub.cpu_seconds_with_workers() - cpu0) / wall,
        (time.process_time() - client0) / wall,
        result.errors,
    )


def run() -> Section:
    section = Section(
        key="workers",
        title="9. Reads scale with workers",
        target=f"reads at least {TARGET}x from 1 to 2 workers on 2 cores",
    )
    rates: dict[tuple[int, str], list[float]] = {}
    cpus: dict[tuple[int, str], list[float]] = {}
    clients: dict[tuple[int, str], list[float]] = {}
    errors = 0
    spreads: dict[int, list[int]] = {}
    with bench_hub("memory") as one, bench_hub("memory", ORCHESTRA_WORKERS="2") as two:
        hubs = {1: one, 2: two}
        paths = {}
        for count, hub in hubs.items():
            paths[count] = {"/health": "/health", "graph": f"/projects/{asyncio.run(build(hub))}/graph"}
            spreads[count] = asyncio.run(spread(hub))
        for _ in range(ROUNDS):  # alternate, so both see the same moments of a busy machine
            for name, total in REQUESTS.items():
                for count, hub in hubs.items():
                    asyncio.run(rate(hub, paths[count][name], total // 5))  # warm the connections' path
                    rps, cpu, client, failed = asyncio.run(rate(hub, paths[count][name], total))
                    rates.setdefault((count, name), []).append(rps)
                    cpus.setdefault((count, name), []).append(cpu)
                    clients.setdefault((count, name), []).append(client)
                    errors += failed
    table = Table(
        [
            "Request",
            "1 worker req/s",
            "2 workers req/s",
            "Ratio",
            "serve CPU 1 / 2 workers",
            "client CPU 1 / 2 workers",
            "Rounds",
        ]
    )
    ratios = []
    for name in REQUESTS:
        single, double = statistics.median(rates[(1, name)]), statistics.median(rates[(2, name)])
        ratios.append(double / single)
        label = f"GET /projects/{{id}}/graph ({NODES} nodes)" if name == "graph" else f"GET {name}"
        table.add(
            label,
            f"{single:.0f}",
            f"{double:.0f}",
            f"{double / single:.2f}x",
            f"{statistics.median(cpus[(1, name)]):.2f} / {statistics.median(cpus[(2, name)]):.2f}",
            f"{statistics.median(clients[(1, name)]):.2f} / {statistics.median(clients[(2, name)]):.2f}",
            " · ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(rates[(1, name)], rates[(2, name)], strict=True)),
        )
    section.met = errors == 0 and min(ratios) >= TARGET
    section.tables.append(table)
    section.notes += [
        f"Two hubs on the embedded default (SQLite, in-memory layer), one with `ORCHESTRA_WORKERS=1`, one with 2, "
        f"both running; {CONCURRENCY} keep-alive clients on one asyncio loop in the bench process (on the same two "
        f"cores), {ROUNDS} alternating rounds of {REQUESTS['/health']} `/health` and {REQUESTS['graph']} graph "
        "reads per hub; the medians are shown, every round as 1 worker/2 workers.",
        f"Connections opened at once per worker: {spreads[2]} with 2 workers (the kernel hands each accepted "
        "connection to one worker's socket, SO_REUSEPORT). Errors: " + str(errors) + ".",
        "serve CPU: CPU seconds of the serve process and its workers per wall second (2.0 = both cores); "
        "client CPU: the same for the bench process, which shares the two cores with the hub, so the two "
        "workers can have at most 2.0 minus it.",
    ]
    return section
