"""The runner through faults: database connections cut under it, a heartbeat that cannot land, a
worker that ends without settling its step, a DAG run locked by a runner that went away."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from agents.logs import unwritten_kept
from agents.models import DagRun, ExecutionLogEntry, StepRun
from agents.runner import recovery
from agents.runner.loop import Runner
from agents.runner.worker import StepWorker
from agents.services.lifecycle import dag_runs_advance, step_run_claim
from orchestra_site.heartbeat import Heartbeat
from orchestra_site.models import HubProcess
from orchestra_site.services import hub_process_heartbeat, hub_process_register
from orchestration.models import Workspace
from tests.support.agent_runs import (
    RunnerThread,
    execution_finished,
    launch,
    make_template,
    pid_gone,
    running_step,
    wait_for,
)
from tests.support.dag_runs import add_node, start_dag_run

pytestmark = pytest.mark.django_db(transaction=True)
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's sessions and row locks")


def terminate_the_heartbeats_session() -> int:
    """The session whose last statement renewed a heartbeat: the heartbeat's own connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE %s",
            [f'UPDATE "{HubProcess._meta.db_table}" SET "heartbeat_at"%'],
        )
        return cursor.fetchone()[0]


def terminate_every_other_session() -> int:
    """What a PostgreSQL restart does to the hub's connections: every one of them is cut."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@postgres_only
def test_a_heartbeat_outlives_its_connections_being_cut(settings: Any) -> None:
    settings.RUNNER_HEARTBEAT = 0.2
    process = hub_process_register(kind=HubProcess.KIND_RUNNER)
    stop = threading.Event()
    heartbeat = Heartbeat(process_id=process.pk, stop=stop)
    heartbeat.start()
    try:
        cut_at = time.monotonic()
        for _ in range(3):
            wait_for(lambda: heartbeat.last_renewed > cut_at and heartbeat.failures == 0, timeout=10)  # noqa: B023
            assert terminate_the_heartbeats_session() == 1  # what a restart does to it, and nothing else
            cut_at = time.monotonic()
            while heartbeat.last_renewed <= cut_at and time.monotonic() - cut_at < 30:
                time.sleep(0.1)
            assert heartbeat.last_renewed > cut_at, (heartbeat.failures, heartbeat.outage.reason, heartbeat.is_alive())
        assert heartbeat.is_alive()
        assert not heartbeat.fenced
    finally:
        stop.set()
        heartbeat.join(timeout=5)


@postgres_only
def test_an_agent_runs_to_its_end_through_a_database_blip_and_its_result_is_kept(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("Work", "custom", "3")]))
    with RunnerThread() as runner:
        step = wait_for(running_step(execution["id"]))
        for _ in range(2):  # two restarts' worth of cut connections while the agent works
            time.sleep(0.7)
            terminate_every_other_session()
        wait_for(execution_finished(execution["id"]), timeout=60)
        assert runner.thread.is_alive() and runner.heartbeat.is_alive()
        # The runner still takes work afterwards.
        again = launch(api_client, project, node, make_template(api_client, [("Again", "custom", "0")]))
        wait_for(execution_finished(again["id"]), timeout=30)
    step.refresh_from_db()
    assert (step.status, step.crashed, step.error) == ("completed", False, None)
    assert step.output.splitlines()[-1].startswith("done: 3 in ")
    assert StepRun.objects.filter(execution_id=execution["id"]).count() == 1
    printed = [e.data["data"] for e in ExecutionLogEntry.objects.filter(execution_id=execution["id"], kind="output")]
    assert sum(line.startswith("working on: 3") for line in printed) >= 5  # nothing the agent printed was lost
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0


def test_a_runner_that_cannot_renew_its_heartbeat_stops_its_agents_and_claims_nothing(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.RUNNER_DEAD_AFTER = 30  # peers would reap at 30 s; the runner stops its agents at 15 s
    settings.RUNNER_HEARTBEAT = 600  # no beat lands during the test: as if the database were unreachable
    first = launch(api_client, project, node, make_template(api_client, [("Long", "custom", "60")]))
    with RunnerThread() as runner:
        step = wait_for(running_step(first["id"]))
        runner.heartbeat.last_renewed -= 16  # the last beat that landed is 16 s old
        wait_for(lambda: pid_gone(step.pid), timeout=10)  # within the 5 s grace, long before 30 s
        second = launch(api_client, project, node, make_template(api_client, [("Next", "custom", "0")]))
        time.sleep(1.5)  # several cycles: a fenced runner claims nothing
        assert StepRun.objects.get(execution_id=second["id"]).status == "pending"
        runner.heartbeat.beat()  # the database answers again
        wait_for(execution_finished(second["id"]), timeout=30)
    step.refresh_from_db()
    assert step.status == "failed"
    assert step.crashed  # a DAG run retries it without using an attempt
    assert re.fullmatch(
        r"interrupted: the runner could not renew its heartbeat for 1[6-9]s \(no beat landed\); "
        r"the agent was stopped so that no step runs twice at once",
        step.error,
    )


def test_a_runner_whose_beat_lands_after_a_long_gap_stops_what_it_still_runs(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.RUNNER_HEARTBEAT = 600
    execution = launch(api_client, project, node, make_template(api_client, [("Long", "custom", "60")]))
    with RunnerThread() as runner:
        step = wait_for(running_step(execution["id"]))
        runner.heartbeat.last_renewed -= settings.RUNNER_DEAD_AFTER  # the process was frozen this long
        runner.heartbeat.beat()  # ... and its first beat after thaw lands: peers may have reaped it
        wait_for(lambda: pid_gone(step.pid), timeout=10)
        wait_for(execution_finished(execution["id"]), timeout=10)
    step.refresh_from_db()
    assert step.crashed and step.error.startswith("interrupted: the runner could not renew its heartbeat")


def test_a_step_a_peer_reaped_is_stopped_by_the_runner_that_still_ran_it(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("Long", "custom", "60")]))
    peer = hub_process_register(kind=HubProcess.KIND_RUNNER)
    with RunnerThread():
        step = wait_for(running_step(execution["id"]))
        StepRun.objects.filter(pk=step.pk).update(runner_id=peer.pk)  # no longer this runner's step
        wait_for(lambda: pid_gone(step.pid), timeout=10)
        time.sleep(0.5)  # its worker has ended
    step.refresh_from_db()
    assert (step.status, step.runner_id, step.error) == ("running", peer.pk, None)  # the peer's to end, not ours
    assert Workspace.objects.get(path=project["workspace_path"]).running == 1  # its slot, held by the peer


def test_a_worker_that_ends_without_settling_its_step_is_noticed(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("Lost", "custom", "0")]))
    process = hub_process_register(kind=HubProcess.KIND_RUNNER)
    step = StepRun.objects.select_related("execution").get(execution_id=execution["id"])
    assert step_run_claim(step_run=step, runner_id=process.pk)
    assert Workspace.objects.get(path=project["workspace_path"]).running == 1
    runner = Runner(
        hub_process_id=process.pk,
        stop=threading.Event(),
        heartbeat=Heartbeat(process_id=process.pk, stop=threading.Event()),
    )
    runner.workers[step.pk] = StepWorker(step.pk)  # a worker whose thread is gone, its step unsettled
    runner.run_once()
    step.refresh_from_db()
    assert (step.status, step.crashed, step.error) == ("failed", True, "crashed: the hub lost track of its agent")
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0
    assert runner.workers == {}


@postgres_only
def test_a_dag_run_locked_by_a_vanished_runner_does_not_hold_the_others_up(
    api_client: APIClient, dag_agent: list[str], project: dict[str, Any]
) -> None:
    add_node(api_client, project, "A", "0")
    run = start_dag_run(api_client, project)
    locked, release = threading.Event(), threading.Event()

    def hold_the_run() -> None:  # a runner cut off inside its transaction, the row locked
        with transaction.atomic():
            DagRun.objects.select_for_update().get(pk=run["id"])
            locked.set()
            release.wait(30)
        connections.close_all()

    holder = threading.Thread(target=hold_the_run)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        assert dag_runs_advance() == 0
        assert time.monotonic() - started < 1
    finally:
        release.set()
        holder.join()
    assert dag_runs_advance() == 1  # the next cycle takes it


@postgres_only
def test_the_hubs_postgresql_sessions_bound_their_waits() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone() == ("10s",)
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone() == ("15s",)
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'tcp_keepalives_idle'")
        assert cursor.fetchone() in (("5",), ("0",))  # 0 on a unix socket, where keepalives do not apply


def test_output_kept_through_an_outage_is_bounded_and_keeps_the_steps_own_frames() -> None:
    start = {"type": "step_start", "step_run_id": 1}
    output = [{"type": "output", "data": f"{i:07d}" + "x" * (1024 * 1024 - 8) + "\n"} for i in range(12)]
    complete = {"type": "step_complete", "step_run_id": 1}
    kept = unwritten_kept([start, *output, complete])
    assert kept[0] == start and kept[-1] == complete
    assert [frame["data"][:7] for frame in kept[1:-1]] == [f"{i:07d}" for i in range(5, 12)]  # the newest 7 MiB


@postgres_only
def test_a_runner_stuck_in_a_database_wait_still_stops_its_agents_on_time(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.RUNNER_HEARTBEAT = 600  # no beat lands: as if the network to the database were cut
    execution = launch(api_client, project, node, make_template(api_client, [("Long", "custom", "60")]))
    locked, release = threading.Event(), threading.Event()

    def hang_the_loop() -> None:  # every query of the runner's loop on DAG runs now waits
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {DagRun._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)
        connections.close_all()

    with RunnerThread() as runner:
        step = wait_for(running_step(execution["id"]))
        holder = threading.Thread(target=hang_the_loop)
        holder.start()
        try:
            assert locked.wait(10)
            time.sleep(0.5)  # the loop is now waiting on the lock
            runner.heartbeat.last_renewed -= 16
            wait_for(lambda: pid_gone(step.pid), timeout=8)  # fence_after/3 = 5 s grace, and a check
        finally:
            release.set()
            holder.join()


def test_a_step_taken_over_before_its_agent_started_is_not_started(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("Late", "custom", "0")]))
    cut_off = hub_process_register(kind=HubProcess.KIND_RUNNER)
    peer = hub_process_register(kind=HubProcess.KIND_RUNNER)
    step = StepRun.objects.select_related("execution").get(execution_id=execution["id"])
    assert step_run_claim(step_run=step, runner_id=cut_off.pk)
    StepRun.objects.filter(pk=step.pk).update(runner_id=peer.pk)  # reaped and claimed again meanwhile
    worker = StepWorker(step.pk, runner_id=cut_off.pk)
    worker.run()  # the cut-off runner's worker, once its claim's answer finally arrives
    step.refresh_from_db()
    assert (step.status, step.runner_id, step.pid) == ("running", peer.pk, None)
    assert worker.settled and worker.process is None
    assert not ExecutionLogEntry.objects.filter(execution_id=execution["id"]).exists()


def test_a_runner_whose_clock_is_behind_is_not_reaped_while_it_beats(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("Held", "custom", "0")]))
    behind = hub_process_register(kind=HubProcess.KIND_RUNNER)
    assert step_run_claim(
        step_run=StepRun.objects.select_related("execution").get(execution_id=execution["id"]), runner_id=behind.pk
    )
    with time_machine.travel(timezone.now() - timedelta(minutes=2)):  # its machine's clock is 2 minutes behind
        assert hub_process_heartbeat(process_id=behind.pk)
    assert recovery.dead_runners(me=None) == {}  # the heartbeat carries the database's time, not the machine's


@postgres_only
def test_a_heartbeat_beats_when_every_pooled_connection_is_taken(settings: Any) -> None:
    settings.RUNNER_HEARTBEAT = 0.2
    process = hub_process_register(kind=HubProcess.KIND_RUNNER)
    release = threading.Event()
    # This thread holds one of the pool's connections; the others take the rest.
    holding = threading.Barrier(settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"])

    def hold_a_connection() -> None:  # threads that keep the pool's connections (a leak, a burst)
        connection.ensure_connection()
        holding.wait(30)
        release.wait(30)
        connection.close()

    holders = [threading.Thread(target=hold_a_connection) for _ in range(holding.parties - 1)]
    for holder in holders:
        holder.start()
    holding.wait(30)
    stop = threading.Event()
    heartbeat = Heartbeat(process_id=process.pk, stop=stop)
    started = time.monotonic()
    heartbeat.start()
    try:
        wait_for(lambda: heartbeat.last_renewed > started, timeout=5)
    finally:
        stop.set()
        release.set()
        heartbeat.join(5)
        for holder in holders:
            holder.join(5)
