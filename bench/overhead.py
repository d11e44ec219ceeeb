"""7. Request overhead: the same four requests in process (Django's test Client) and through ``serve``.

One keep-alive client, one request at a time, so the difference is what serving costs: the
server, the ASGI handler, the hop between the event loop and the thread that runs the request.
The two are measured in alternating rounds in one run, so machine noise hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.client import HttpConnection
from bench.hubs import LAYER_LABEL, bench_hub, workspace_url
from bench.projects_api import NODES, node_body
from bench.report import Section, Table

ROUNDS = 5
# Requests per round and kind; the graph read is the slow one.
PER_ROUND = {"health": 300, "graph": 40, "node": 200, "desired": 200}
WORKSPACES = 50
TARGET_RATIO = 0.7

Request = tuple[str, str, Any, int]  # method, path, body, expected status
Make = Callable[[int], Request]


def requests(graph_pid: int, sink_pid: int, parent_ids: list[int], round_no: int) -> dict[str, Make]:
    """The i-th request of each kind. Node creations go to another project, so the graph keeps its size."""
    return {
        "health": lambda i: ("GET", "/health", None, 200),
        "graph": lambda i: ("GET", f"/projects/{graph_pid}/graph", None, 200),
        "node": lambda i: (
            "POST",
            f"/projects/{sink_pid}/nodes",
            {"title": f"n{i}", "parent_ids": [parent_ids[0]]},
            201,
        ),
        # Every PUT a real change: a workspace alternates between 1 and 2 from one pass over them to the next.
        "desired": lambda i: (
            "PUT",
            workspace_url(f"/bench/overhead/{i % WORKSPACES}"),
            {"desired": 1 + (i // WORKSPACES + round_no * PER_ROUND["desired"] // WORKSPACES) % 2},
            200,
        ),
    }


LABELS = {
    "health": "GET /health",
    "graph": f"GET /projects/{{id}}/graph ({NODES} nodes)",
    "node": "POST /projects/{id}/nodes (1 parent)",
    "desired": "PUT /api/orchestration/workspace/{id}/desired",
}


class InProcess:
    """Django in the bench process (SQLite in a temp dir), through the test Client."""

    def __init__(self) -> None:
        from bench.inproc import django_ready

        django_ready()
        from django.test import Client

        self.client = Client(HTTP_HOST="localhost")

    def call(self, method: str, path: str, body: Any) -> int:
        data = json.dumps(body) if body is not None else ""
        response = self.client.generic(method, path, data, content_type="application/json")
        return int(response.status_code)

    def build(self) -> tuple[int, int, list[int]]:
        return _build(lambda method, path, body: self._json(method, path, body))

    def _json(self, method: str, path: str, body: Any) -> Any:
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(method, path, data, content_type="application/json").json()

    def rate(self, make: Make, count: int) -> float:
        started = time.perf_counter()
        for i in range(count):
            method, path, body, ok = make(i)
            status = self.call(method, path, body)
            if status != ok:
                raise RuntimeError(f"in process: {method} {path} answered {status}")
        return count / (time.perf_counter() - started)


def _build(call: Callable[[str, str, Any], Any]) -> tuple[int, int, list[int]]:
    graph = int(call("POST", "/projects", {"name": "bench overhead graph"})["id"])
    sink = int(call("POST", "/projects", {"name": "bench overhead nodes"})["id"])
    ids: list[int] = []
    for i in range(NODES):
        ids.append(int(call("POST", f"/projects/{graph}/nodes", node_body(i, ids))["id"]))
    parent = [int(call("POST", f"/projects/{sink}/nodes", {"title": "parent"})["id"])]
    return graph, sink, parent


async def served_build(http: HttpConnection) -> tuple[int, int, list[int]]:
    graph = await http.json("POST", "/projects", {"name": "bench overhead graph"}, expect=201)
    sink = await http.json("POST", "/projects", {"name": "bench overhead nodes"}, expect=201)
    assert isinstance(graph, dict) and isinstance(sink, dict)
    ids: list[int] = []
    for i in range(NODES):
        node = await http.json("POST", f"/projects/{graph['id']}/nodes", node_body(i, ids), expect=201)
        assert isinstance(node, dict)
        ids.append(int(node["id"]))
    parent = await http.json("POST", f"/projects/{sink['id']}/nodes", {"title": "parent"}, expect=201)
    assert isinstance(parent, dict)
    return int(graph["id"]), int(sink["id"]), [int(parent["id"])]


async def served_rate(http: HttpConnection, make: Make, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        method, path, body, ok = make(i)
        status, payload = await http.request(method, path, body)
        if status != ok:
            raise RuntimeError(f"served: {method} {path} answered {status}: {payload[:200]!r}")
    return count / (time.perf_counter() - started)


def measure() -> dict[str, tuple[list[float], list[float]]]:
    """Per kind: in-process rates and served rates, one of each per round, alternating."""
    local = InProcess()
    local_ids = local.build()
    # Django's synchronous code may not run on an event loop: the in-process part runs in one
    # thread of its own (so one database connection, as the test Client keeps it).
    pool = ThreadPoolExecutor(max_workers=1)

    async def in_thread(function: Callable[[Make, int], float], make: Make, count: int) -> float:
        return await asyncio.get_running_loop().run_in_executor(pool, function, make, count)

    rates: dict[str, tuple[list[float], list[float]]] = {kind: ([], []) for kind in PER_ROUND}
    with bench_hub("memory") as hub:

        async def run() -> None:
            http = HttpConnection("127.0.0.1", hub.port)
            served_ids = await served_build(http)
            for round_no in range(ROUNDS):
                local_make = requests(*local_ids, round_no)
                served_make = requests(*served_ids, round_no)
                for kind, count in PER_ROUND.items():
                    if round_no == 0:  # warm both up (first connections, caches)
                        await in_thread(local.rate, local_make[kind], 10)
                        await served_rate(http, served_make[kind], 10)
                    rates[kind][0].append(await in_thread(local.rate, local_make[kind], count))
                    rates[kind][1].append(await served_rate(http, served_make[kind], count))
            await http.close()

        asyncio.run(run())
    return rates


def run() -> Section:
    section = Section(
        key="overhead",
        title="7. Request overhead: served vs in process",
        target=f"served throughput ≥ {TARGET_RATIO}x the in-process throughput of the same request, for all four",
    )
    rates = measure()
    table = Table(["Request", "In process req/s", "Served req/s", "Served / in process", "Rounds (ratios)"])
    met = True
    for kind, (local, served) in rates.items():
        ratios = [s / i for i, s in zip(local, served, strict=True)]
        ratio = statistics.median(ratios)
        met = met and ratio >= TARGET_RATIO
        table.add(
            LABELS[kind],
            f"{statistics.median(local):.0f}",
            f"{statistics.median(served):.0f}",
            f"**{ratio:.2f}**",
            " ".join(f"{r:.2f}" for r in ratios),
        )
    section.met = met
    section.tables.append(table)
    section.notes += [
        f"{LAYER_LABEL['memory']}. In process: Django's test Client in the bench process (SQLite in a temp dir; "
        "the test Client keeps the database connection across requests). Served: one `serve`, one keep-alive "
        "connection from the bench process, one request at a time.",
        f"{ROUNDS} rounds; in each, every kind runs in process then served "
        f"({', '.join(f'{kind} {count}' for kind, count in PER_ROUND.items())} requests), "
        "so both see the same machine load. Figures are medians over the rounds; the ratio is the "
        "median of the per-round ratios.",
        f"The graph has {NODES} nodes (the DAG of section 4); node creations go to a second project so it keeps "
        "its size. Every PUT changes desired (a transaction and two events).",
    ]
    return section
