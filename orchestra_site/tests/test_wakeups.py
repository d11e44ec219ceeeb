"""Wake-ups between processes and in one: a waiter wakes when told, forgets what it was told,
and the outbox relay still finds rows whose wake-up was lost (its safety timeout)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from websockets.sync.client import connect

from orchestra_site import wakeups
from orchestra_site.models import OutboxEvent
from orchestra_site.realtime.relay import OutboxRelay, OutboxRow
from tests.hub_processes import manage, running_hub
from tests.test_hub_processes import migrated_env, next_event


def test_a_waiter_wakes_for_its_topics_only_and_times_out_otherwise() -> None:
    with wakeups.listening(wakeups.WORK) as waiter:
        wakeups.wake_here(wakeups.OUTBOX)
        started = time.monotonic()
        assert waiter.wait(0.2) == set()
        assert time.monotonic() - started >= 0.19
        wakeups.wake_here(wakeups.WORK)
        assert waiter.wait(5) == {wakeups.WORK}
        assert waiter.wait(0) == set()  # told once, woken once


@pytest.mark.django_db(transaction=True)
def test_the_relay_finds_rows_whose_wake_up_was_lost() -> None:
    relayed: list[OutboxRow] = []

    async def forward(rows: list[OutboxRow]) -> None:
        relayed.extend(rows)

    async def main() -> float:
        relay = OutboxRelay(timeout=1.0, forward=forward)
        stop = asyncio.Event()
        task = asyncio.ensure_future(relay.run(stop))
        await asyncio.sleep(0.3)  # it has looked once and sleeps
        # Another process's row, committed without a wake-up (that process died right after).
        await database_sync_to_async(OutboxEvent.objects.create)(origin="elsewhere", group="g", text="{}")
        written = time.monotonic()
        while not relayed:
            assert time.monotonic() - written < 5, "the relay never found the row"
            await asyncio.sleep(0.02)
        stop.set()
        await task
        return time.monotonic() - written

    assert asyncio.run(main()) < 1.0 + 1.0
    assert [row[1:3] for row in relayed] == [("elsewhere", "g")]


@pytest.mark.slow
def test_a_command_in_another_process_wakes_the_relay_of_serve_at_once(tmp_path: Path) -> None:
    env = migrated_env(tmp_path, ORCHESTRA_WAKEUP_TIMEOUT="60s")
    with running_hub(env, "--no-runner") as hub:
        with connect(hub.ws_url + "/orchestration") as ws:
            next_event(ws, "orchestration.global")
            time.sleep(1)  # the relay sleeps
            script = "from orchestration.services import workspace_set_desired as s; s(path='/other', desired=2)"
            assert manage("shell", "-c", script, env=env).returncode == 0
            committed = time.monotonic()  # the command has ended: its commit is behind us
            assert next_event(ws, "orchestration.global", timeout=10)["desired"] == 2
            assert time.monotonic() - committed < 2  # woken, not found after 60 s
