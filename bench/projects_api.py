"""4. Projects: reading a 200-node graph and creating nodes, per second against ``serve``, and queries per request."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.client import HttpConnection, LoadResult, closed_loop
from bench.hubs import LAYER_LABEL, BenchHub, bench_hub, measurable_layers
from bench.report import Section, Table, summary_ms

NODES = 200
GRAPH_READS = 400
NODE_CREATES = 1000
CONCURRENCY = 8


def node_body(i: int, ids: list[int]) -> dict[str, Any]:
    """Node ``i`` of a DAG: its tree parent, and for every third node also the node two before it."""
    parents = [] if i == 0 else [ids[(i - 1) // 2]]
    if i > 2 and i % 3 == 0:
        parents.append(ids[i - 2])
    return {
        "title": f"node {i}",
        "description": "bench",
        "prompt": "do it",
        "parent_ids": sorted(set(parents)),
        "position_x": float(i),
        "position_y": float(i % 17),
    }


async def build(hub: BenchHub) -> tuple[int, list[int]]:
    http = HttpConnection("127.0.0.1", hub.port)
    project = await http.json("POST", "/projects", {"name": "bench graph"}, expect=201)
    assert isinstance(project, dict)
    pid, ids = int(project["id"]), list[int]()
    for i in range(NODES):
        node = await http.json("POST", f"/projects/{pid}/nodes", node_body(i, ids), expect=201)
        assert isinstance(node, dict)
        ids.append(int(node["id"]))
    await http.close()
    return pid, ids


async def measure(hub: BenchHub) -> tuple[LoadResult, LoadResult, int, float, float]:
    pid, ids = await build(hub)
    _, body = await HttpConnection("127.0.0.1", hub.port).request("GET", f"/projects/{pid}/graph")
    size = len(body)
    cpu0, wall0 = hub.cpu_seconds(), time.perf_counter()
    reads = await closed_loop(
        "127.0.0.1",
        hub.port,
        total=GRAPH_READS,
        concurrency=CONCURRENCY,
        make=lambda i: ("GET", f"/projects/{pid}/graph", None),
    )
    cpu1, wall1 = hub.cpu_seconds(), time.perf_counter()
    creates = await closed_loop(
        "127.0.0.1",
        hub.port,
        total=NODE_CREATES,
        concurrency=CONCURRENCY,
        ok=201,
        make=lambda i: ("POST", f"/projects/{pid}/nodes", {"title": f"new {i}", "parent_ids": [ids[i % NODES]]}),
    )
    cpu2, wall2 = hub.cpu_seconds(), time.perf_counter()
    return reads, creates, size, (cpu1 - cpu0) / (wall1 - wall0), (cpu2 - cpu1) / (wall2 - wall1)


def count_queries() -> tuple[int, float, int]:
    """Queries of one graph read (200 nodes) and of one node creation, with Django's test Client."""
    from bench.inproc import django_ready

    django_ready()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")
    post = lambda path, body: client.post(path, json.dumps(body), content_type="application/json")  # noqa: E731
    project = post("/projects", {"name": "bench queries"}).json()
    pid, ids = project["id"], list[int]()
    for i in range(NODES):
        ids.append(post(f"/projects/{pid}/nodes", node_body(i, ids)).json()["id"])
    with CaptureQueriesContext(connection) as graph:
        assert client.get(f"/projects/{pid}/graph").status_code == 200
    creates = []
    for i in range(20):
        with CaptureQueriesContext(connection) as created:
            assert post(f"/projects/{pid}/nodes", {"title": f"q {i}", "parent_ids": [ids[i]]}).status_code == 201
        creates.append(len(created.captured_queries))
    with CaptureQueriesContext(connection) as small:
        post(f"/projects/{pid}/nodes", {"title": "root"})
    return len(graph.captured_queries), sum(creates) / len(creates), len(small.captured_queries)


def run() -> Section:
    section = Section(
        key="projects",
        title="4. Projects: graph reads and node creation",
        target="figures only; queries per request must not grow with the graph",
    )
    table = Table(
        ["Layer", "Request", "Requests", "Concurrency", "Requests/s", "p50 ms", "p99 ms", "Errors", "serve CPU"]
    )
    for layer in measurable_layers(section.notes):
        with bench_hub(layer) as hub:
            reads, creates, size, read_cpu, create_cpu = asyncio.run(measure(hub))
        for label, result, cpu in (
            (f"GET graph ({NODES} nodes, {size // 1024} KiB)", reads, read_cpu),
            ("POST node (1 parent)", creates, create_cpu),
        ):
            p50, p99, _, _ = summary_ms(result.latencies)
            table.add(
                LAYER_LABEL[layer],
                label,
                result.requests,
                CONCURRENCY,
                f"{result.rps:.0f}",
                p50,
                p99,
                result.errors,
                f"{cpu:.2f}",
            )
    graph_queries, create_queries, root_queries = count_queries()
    queries = Table(["Request (in-process, SQLite)", "Queries"])
    queries.add(f"GET /projects/{{pid}}/graph, {NODES} nodes with parent links", graph_queries)
    queries.add("POST /projects/{pid}/nodes with 1 parent (mean of 20)", f"{create_queries:.1f}")
    queries.add("POST /projects/{pid}/nodes without parents", root_queries)
    section.tables += [table, queries]
    section.met = graph_queries <= 10
    section.notes += [
        f"The graph is a DAG of {NODES} nodes (a binary tree plus a second parent on every third node), built "
        "through the API; the node creations then add one node per request under an existing node.",
        "Query counts come from Django's test Client with `CaptureQueriesContext` in the bench process; "
        "met when a graph read takes a constant handful of queries (≤ 10), not one per node.",
    ]
    return section
