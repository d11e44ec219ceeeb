"""2. PUT desired: requests per second against one ``serve``, from concurrent keep-alive clients."""

from __future__ import annotations

import asyncio
import time

from bench.client import LoadResult, closed_loop
from bench.hubs import LAYER_LABEL, BenchHub, bench_hub, measurable_layers, workspace_url
from bench.report import Section, Table, load_columns

TOTAL = 2000
CONCURRENCY = 16
WORKSPACES = 50
WARM_UP = 200


def request(i: int) -> tuple[str, str, object]:
    """Every request changes something: workspace ``i % 50`` alternates between desired 1 and 2."""
    return "PUT", workspace_url(f"/bench/put/{i % WORKSPACES}"), {"desired": 1 + (i // WORKSPACES) % 2}


async def measure(hub: BenchHub) -> tuple[LoadResult, float]:
    await closed_loop("127.0.0.1", hub.port, total=WARM_UP, concurrency=CONCURRENCY, make=request)
    offset = WARM_UP + WORKSPACES  # keep alternating from where the warm-up stopped
    cpu_before, wall_before = hub.cpu_seconds(), time.perf_counter()
    result = await closed_loop(
        "127.0.0.1", hub.port, total=TOTAL, concurrency=CONCURRENCY, make=lambda i: request(i + offset)
    )
    return result, (hub.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)


def run() -> Section:
    section = Section(
        key="put_rps",
        title="2. PUT desired throughput",
        target="figures only (no target in the issues)",
    )
    table = Table(
        ["Layer", "Requests", "Concurrency", "Requests/s", "p50 ms", "p99 ms", "max ms", "Errors", "serve CPU"]
    )
    for layer in measurable_layers(section.notes):
        with bench_hub(layer) as hub:
            result, cpu = asyncio.run(measure(hub))
        table.add(LAYER_LABEL[layer], result.requests, CONCURRENCY, *load_columns(result, cpu))
    section.tables.append(table)
    section.notes += [
        f"`PUT /api/orchestration/workspace/<id>/desired` over {WORKSPACES} workspaces, every request a real change "
        f"(a transaction, two events); {WARM_UP} warm-up requests first. Clients: {CONCURRENCY} keep-alive "
        "connections on one asyncio loop in the bench process.",
        "serve CPU: CPU seconds of the serve process per wall second (1.0 = one of the two cores).",
    ]
    return section
