"""6. The web console in a browser: the workspaces page with 1000 workspaces and the project page
with a 200-node DAG, time to first render and to a live update (Chromium through Playwright)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from bench.client import HttpConnection
from bench.hubs import LAYER_LABEL, BenchHub, bench_hub, workspace_url
from bench.projects_api import NODES, build
from bench.report import Section, Table, percentile, summary_ms

WORKSPACES = 1000
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOADS = 5
UPDATES = 30

# Runs in the page: change something through the API with the page's own fetch, and time until the
# page's DOM shows it (one clock, the page's; ``performance.now()`` counts from navigation start).
WORKSPACE_UPDATE_JS = """async ([path, value]) => {
  const row = document.querySelector(`tr[data-workspace="${CSS.escape(path)}"]`);
  const shown = new Promise((resolve) => new MutationObserver((_, observer) => {
    if (row.querySelector("input.desired").value === String(value)) {
      observer.disconnect(); resolve(performance.now());
    }
  }).observe(row, { attributes: true, attributeFilter: ["class"] }));
  const started = performance.now();
  await fetch(`/api/orchestration/workspace/${encodeURIComponent(path)}/desired`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ desired: value }) });
  return (await shown) - started;
}"""
NODE_UPDATE_JS = """async ([pid, parent, title]) => {
  const dag = document.getElementById("dag");
  const shown = new Promise((resolve) => new MutationObserver((_, observer) => {
    if ([...dag.querySelectorAll(".node text")].some((t) => t.textContent === title)) {
      observer.disconnect(); resolve(performance.now());
    }
  }).observe(dag, { childList: true }));
  const started = performance.now();
  await fetch(`/projects/${pid}/nodes`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title, parent_ids: [parent] }) });
  return (await shown) - started;
}"""


async def seed_workspaces(hub: BenchHub) -> list[str]:
    http = HttpConnection("127.0.0.1", hub.port)
    paths = [f"/srv/bench/ws-{i:04d}" for i in range(WORKSPACES)]
    for i, path in enumerate(paths):
        await http.json("PUT", workspace_url(path), {"desired": i % 5})
    await http.close()
    return paths


def measure_pages(hub: BenchHub, paths: list[str], pid: int, ids: list[int]) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {
        key: [] for key in ("ws_paint", "ws_live", "ws_synced", "ws_update", "dag_drawn", "dag_update")
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        for _ in range(LOADS):
            page.goto(hub.url + "/console/")
            page.wait_for_function("document.getElementById('live-state').dataset.state === 'live'", polling="raf")
            results["ws_live"].append(page.evaluate("performance.now()"))
            page.wait_for_function("document.getElementById('workspaces').dataset.synced === 'true'", polling=20)
            results["ws_synced"].append(page.evaluate("performance.now()"))
            paint = page.evaluate(
                "performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint')?.startTime"
            )
            results["ws_paint"].append(float(paint))
        for i in range(UPDATES):
            path = paths[(i * 37) % WORKSPACES]
            results["ws_update"].append(page.evaluate(WORKSPACE_UPDATE_JS, [path, 10 + i % 5]))
        for _ in range(LOADS):
            page.goto(f"{hub.url}/console/projects/{pid}")
            page.wait_for_function(f"document.querySelectorAll('#dag .node').length >= {NODES}", polling="raf")
            results["dag_drawn"].append(page.evaluate("performance.now()"))
        page.wait_for_function("document.getElementById('live-state').dataset.state === 'live'")
        page.wait_for_timeout(500)
        for i in range(UPDATES):
            results["dag_update"].append(page.evaluate(NODE_UPDATE_JS, [pid, ids[i * 5], f"live {i}"]))
        browser.close()
    return results


def run() -> Section:
    section = Section(
        key="console",
        title="6. Web console: first render and live updates in a browser",
        target="figures only (no target in the issues)",
    )
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        section.notes.append(f"skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
        return section
    with bench_hub("memory") as hub:
        paths = asyncio.run(seed_workspaces(hub))
        pid, ids = asyncio.run(build(hub))
        results = measure_pages(hub, paths, pid, ids)
    table = Table(["Page", "Measure", "Samples", "p50 ms", "p95 ms", "max ms"])

    def add(page: str, measure: str, values: list[Any]) -> None:
        p50, _, _, worst = summary_ms([v / 1000 for v in values])
        table.add(page, measure, len(values), p50, f"{percentile(values, 95):.1f}", worst)

    add(f"Workspaces ({WORKSPACES})", "first contentful paint (server-rendered table)", results["ws_paint"])
    add(f"Workspaces ({WORKSPACES})", "navigation → socket open (live)", results["ws_live"])
    add(f"Workspaces ({WORKSPACES})", f"navigation → all {WORKSPACES} subscriptions answered", results["ws_synced"])
    add(f"Workspaces ({WORKSPACES})", "PUT desired → row shows it (after that)", results["ws_update"])
    add(f"Project ({NODES}-node DAG)", f"navigation → {NODES} nodes drawn (SVG)", results["dag_drawn"])
    add(f"Project ({NODES}-node DAG)", "POST node → node drawn", results["dag_update"])
    section.tables.append(table)
    section.notes += [
        f"One `serve` ({LAYER_LABEL['memory']}) and Debian's Chromium (headless, 1280 x 860) driven by Playwright "
        f"on the same machine. Loads: {LOADS} each; live updates: {UPDATES} each.",
        "Times are the page's own clock (`performance.now()`, from navigation start): an update is timed from the "
        "page's `fetch` of the API call to the DOM change made by the socket's event (a MutationObserver), so it "
        "includes the request, the hub's event fan-out and the page's redraw (the DAG redraws whole, once per frame).",
        "The workspaces page follows each row with the socket's `subscribe` (the protocol has no stream of every "
        "workspace); the hub answers one socket's subscriptions in turn, each with a touch (an UPDATE) and a read, "
        f"so the page is fully live once all {WORKSPACES} are answered (third row), while the server-rendered table "
        "is on screen long before. Until then a row's update waits behind the remaining subscriptions.",
        f"The {NODES}-node DAG is the one of section 4 (a binary tree plus a second parent on every third node).",
    ]
    return section
