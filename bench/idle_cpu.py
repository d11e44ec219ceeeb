"""11. Idle CPU: what a ``serve`` that nobody talks to costs, on both deployments.

One ``serve`` (runner, relay, prune, heartbeat, garbage-collection schedule: everything a hub runs)
with no client, no agent and no work. After it has settled, its CPU time (user + system, its
own threads) is read from ``/proc`` over ``SECONDS``; the figure is that over the wall time, in
per cent of one core. A hub that polls its database shows here; one that waits for wake-ups does not.
"""

from __future__ import annotations

import time

from bench.hubs import LAYER_LABEL, bench_hub, measurable_layers
from bench.report import Section, Table

SECONDS = 60.0
SETTLE_SECONDS = 5.0
TARGET_PERCENT = 0.5


def idle_percent(layer: str, seconds: float = SECONDS) -> float:
    """Per cent of one core an idle ``serve`` uses over ``seconds``, after it settled."""
    with bench_hub(layer) as hub:
        time.sleep(SETTLE_SECONDS)
        started_cpu, started = hub.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        return 100 * (hub.cpu_seconds() - started_cpu) / (time.monotonic() - started)


def run() -> Section:
    notes: list[str] = []
    table = Table(["Deployment", "Idle serve CPU (% of one core)", "Seconds measured"])
    met = True
    for layer in measurable_layers(notes):
        percent = idle_percent(layer)
        met = met and percent < TARGET_PERCENT
        table.add(LAYER_LABEL[layer], f"{percent:.2f}", f"{SECONDS:.0f}")
    notes.insert(
        0,
        f"One `serve` with its runner, no client and no work, {SETTLE_SECONDS:.0f} s after it answered "
        f"`/health`; CPU seconds of the serve process (user + system, from `/proc`) over {SECONDS:.0f} s of "
        "wall time. The runner and the outbox relay wait for a wake-up (an in-process signal; PostgreSQL "
        "`LISTEN/NOTIFY` between processes), with a safety timeout (`ORCHESTRA_WAKEUP_TIMEOUT`).",
    )
    return Section(
        key="idle_cpu",
        title="11. Idle CPU: a serve with nothing to do",
        target=f"an idle serve under {TARGET_PERCENT}% of one core, both deployments",
        met=met,
        tables=[table],
        notes=notes,
    )
