"""Many concurrent updates on PostgreSQL (threads and processes): nothing is lost, versions grow.

These run in the PostgreSQL + Redis pass of ``make test``; the SQLite pass skips them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, connections

from orchestration import services
from orchestration.models import Totals, Workspace
from tests.support.communicators import HubCommunicator
from tests.support.fixtures import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKSPACES = [f"/race/{i}" for i in range(5)]
ROOT = Path(settings.BASE_DIR)

WORKER = f"""
import os, random, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "orchestra_site.settings"
django.setup()
from orchestration import services
rng = random.Random(int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    path = rng.choice({WORKSPACES!r})
    if rng.random() < 0.5:
        services.workspace_set_desired(path=path, desired=rng.randint(0, 20))
    else:
        services.workspace_set_running(path=path, running=rng.randint(0, 9))
"""


def hammer(seed: int, count: int) -> None:
    rng = random.Random(seed)
    try:
        for _ in range(count):
            path = rng.choice(WORKSPACES)
            if rng.random() < 0.4:
                services.workspace_set_desired(path=path, desired=rng.randint(0, 20))
            elif rng.random() < 0.5:
                services.workspace_set_running(path=path, running=rng.randint(0, 9))
            elif services.workspace_reserve_slot(path=path, global_cap=1000):
                services.workspace_release_slot(path=path)
    finally:
        connections.close_all()


def assert_totals_are_the_sums() -> None:
    totals = Totals.objects.get()
    rows = list(Workspace.objects.values_list("running", "desired"))
    assert (totals.running, totals.desired) == (sum(r for r, _ in rows), sum(d for _, d in rows))


async def drain(client: HubCommunicator) -> list[dict]:
    frames = []
    while not await client.receive_nothing(timeout=1.0):
        frames.append(await client.receive_event())
    return frames


def assert_versions_strictly_increase(frames: list[dict], event: str) -> list[int]:
    versions = [f["data"]["version"] for f in frames if f["event"] == event]
    assert versions, f"no {event} frames"
    assert all(a < b for a, b in itertools.pairwise(versions)), versions
    return versions


async def test_concurrent_threads_lose_no_update_and_clients_see_versions_grow() -> None:
    clients = [HubCommunicator("/orchestration") for _ in range(3)]
    for client in clients:
        assert (await client.connect())[0]
        await client.receive_event()
    await clients[0].send_event("subscribe", {"workspaceId": WORKSPACES[0]})
    await clients[0].receive_event()
    await clients[0].receive_event()

    with ThreadPoolExecutor(max_workers=8) as pool:
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(hammer, seed, 40)) for seed in range(8)))

    await database_sync_to_async(assert_totals_are_the_sums)()
    totals = await database_sync_to_async(Totals.objects.get)()
    for client in clients:
        frames = await drain(client)
        assert_versions_strictly_increase(frames, "orchestration.global")
        last = [f for f in frames if f["event"] == "orchestration.global"][-1]["data"]
        assert (last["running"], last["desired"], last["version"]) == (totals.running, totals.desired, totals.version)
        await client.disconnect()
    workspace_frames = [f for f in await drain(clients[0]) if f["event"] == "orchestration.workspace"]
    assert not workspace_frames  # already drained above, nothing more arrives


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


async def test_two_processes_lose_no_update() -> None:
    await database_sync_to_async(services.workspace_set_desired)(path=WORKSPACES[0], desired=1)
    env = {**os.environ, "ORCHESTRA_DATABASE_URL": database_url()}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(seed), "60"], cwd=ROOT, env=env) for seed in (1, 2)]
    client = HubCommunicator("/orchestration")
    await client.connect()
    await client.receive_event()
    for worker in workers:
        assert await asyncio.to_thread(worker.wait, 120) == 0

    await database_sync_to_async(assert_totals_are_the_sums)()
    if settings.REDIS_URL:  # the other processes' events reach this one through Redis
        frames = await drain(client)
        versions = assert_versions_strictly_increase(frames, "orchestration.global")
        totals = await database_sync_to_async(Totals.objects.get)()
        assert versions[-1] == totals.version
    await client.disconnect()
