"""Chaos: a DAG of real agent processes while the database restarts and runners die or are cut off.

Each scenario runs ``serve`` and two ``runagents`` on a private PostgreSQL and the machine's Redis,
with short heartbeats, and checks what the hub promises whatever happens to its parts: every node's
agent runs to its end exactly once and its result is recorded once, no node's agent runs twice at
the same time, ``running`` never exceeds ``desired``, nothing the hub started outlives the run, and
every process that lives still beats. All findings are collected and reported together, with the
processes' log tails and a timeline of what was sampled.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.chaos.cluster import Cluster, LoggedProcess, agent_processes, marker_events, wait_for
from tests.chaos.partition import Partition

pytestmark = [pytest.mark.chaos, pytest.mark.postgres, pytest.mark.redis]

# A database outage here lasts 2-4 s: with 10 s, a runner rides through it (its agents go on and
# their results are kept); the partition outlasts the 4 s of the second scenario on purpose.
OUTAGE_DEAD_AFTER = 10
PARTITION_DEAD_AFTER = 4


def short_settings(dead_after: int) -> dict[str, str]:
    return {
        "ORCHESTRA_RUNNER_HEARTBEAT": "1s",
        "ORCHESTRA_RUNNER_DEAD_AFTER": f"{dead_after}s",
        "ORCHESTRA_CANCEL_GRACE": "1s",
    }


REAP_EVERY = 5  # agents.runner.loop.REAP_EVERY: a dead runner is noticed within this much more
FINISHED = ("completed", "failed", "cancelled")

# Three layers: each node of a layer waits for one or two of the layer above.
LAYERED = {
    "a0": [],
    "a1": [],
    "a2": [],
    "b0": ["a0", "a1"],
    "b1": ["a1", "a2"],
    "b2": ["a2"],
    "c0": ["b0", "b1"],
    "c1": ["b1", "b2"],
}
# Many roots, so both runners always have work to take, and two nodes after them.
WIDE = {
    "r0": [],
    "r1": [],
    "r2": [],
    "r3": [],
    "r4": [],
    "r5": [],
    "s0": ["r0", "r1", "r2"],
    "s1": ["r3", "r4", "r5"],
}


def test_a_dag_run_survives_two_database_restarts_and_a_killed_runner(tmp_path: Path) -> None:
    desired, work = 3, 3
    with Cluster(tmp_path, **short_settings(OUTAGE_DEAD_AFTER)) as cluster:
        runners = [cluster.add_runner("runagents-1"), cluster.add_runner("runagents-2")]
        project_id, workspace = create_dag(cluster, LAYERED, work)
        cluster.set_desired(workspace, desired)
        cluster.start_sampling(workspace)
        start = cluster.now()
        run = cluster.api(
            "POST", f"/projects/{project_id}/dag-runs", {"max_retries": 2, "retry_backoff_seconds": 1}, expect=201
        )
        faults = []

        sleep_until(cluster, start + 2)
        cluster.pg.restart_fast()
        faults.append(f"t={cluster.now():.1f}s pg_ctl restart -m fast done")

        sleep_until(cluster, start + 5)
        victim, holding = busiest_runner(cluster, runners)
        victim.popen.kill()
        victim.popen.wait()  # no zombie: its peers on this host see its pid gone, as they would in production
        faults.append(f"t={cluster.now():.1f}s SIGKILL {victim.name} (pid {victim.pid}, {holding} running steps)")

        sleep_until(cluster, start + 8)
        faults.append(f"t={cluster.now():.1f}s pg_ctl stop -m immediate, 2 s down, start")
        cluster.pg.crash(down_for=2)
        faults.append(f"t={cluster.now():.1f}s PostgreSQL is back")

        status = wait_for_dag_run(cluster, run["id"], timeout=100)
        faults.append(f"t={cluster.now():.1f}s DAG run {run['id']} is {status}")
        problems = check_run(
            cluster, run["id"], LAYERED, desired=desired, status=status, killed=[victim], dead_after=OUTAGE_DEAD_AFTER
        )
        report_findings(cluster, faults, problems)


def test_a_runner_cut_off_while_it_holds_a_row_lock_freezes_nobody_and_runs_nothing_twice(tmp_path: Path) -> None:
    # Agents outlast the cut-off runner's death sentence (dead-after and a reaping round), so a
    # step taken over by the other runner would run beside the cut-off runner's agent.
    dead_after = PARTITION_DEAD_AFTER
    desired, work = 4, dead_after + REAP_EVERY
    with Cluster(tmp_path, **short_settings(dead_after)) as cluster, Partition(cluster.pg.port) as partition:
        # The far runner reaches the database through the partition's proxy, from another host
        # name: the hub cannot see or kill its agents from here, as with a runner on another machine.
        # ORCHESTRA_MAX_RUNNING is the hub's cap (each process checks the hub-wide count against
        # it): at 2, the far runner, which starts first, holds both agents, and the near one can
        # only take over what it reaps. (Started together, the near one often won every claim.)
        half = {"ORCHESTRA_MAX_RUNNING": str(desired // 2)}
        cluster.env_overrides["runagents-near"] = half
        cluster.env_overrides["runagents-far"] = {
            **half,
            "ORCHESTRA_DATABASE_URL": cluster.database_url(port=partition.port),
        }
        far = cluster.add_runner("runagents-far", hostname="chaos-far")
        project_id, workspace = create_dag(cluster, WIDE, work)
        cluster.set_desired(workspace, desired)
        cluster.start_sampling(workspace)
        run = cluster.api(
            "POST", f"/projects/{project_id}/dag-runs", {"max_retries": 2, "retry_backoff_seconds": 1}, expect=201
        )
        faults = []
        wait_for(lambda: busy(cluster, far), 30, lambda: f"{far.name} never took a step:\n{cluster.report()}")
        near = cluster.add_runner("runagents-near")
        caught = partition.cut_inside_a_transaction(cluster, timeout=15)
        cut_at = cluster.now()
        faults.append(f"t={cut_at:.1f}s {far.name} cut off from the database: {caught}")
        hold = dead_after + REAP_EVERY + 4
        near_progress = progress_of(cluster, near, until=cut_at + hold)
        faults.extend(f"t={cluster.now():.1f}s {wait}" for wait in lock_waits(cluster))
        partition.heal()
        faults.append(f"t={cluster.now():.1f}s partition healed after {hold} s")
        status = wait_for_dag_run(cluster, run["id"], timeout=100)
        faults.append(f"t={cluster.now():.1f}s DAG run {run['id']} is {status}")
        # An agent that ended while its runner was cut off may run again (nobody could know it ended);
        # it must never run beside itself, and its result is recorded once.
        problems = check_run(
            cluster, run["id"], WIDE, desired=desired, status=status, killed=[], dead_after=dead_after, once=False
        )
        if not near_progress:
            problems.insert(
                0,
                f"{near.name} made no progress during the {hold} s partition of {far.name}: it neither claimed "
                "nor reaped a step (see the lock waits in the faults' timeline)",
            )
        report_findings(cluster, faults, problems)


# --- building the run -------------------------------------------------------------------------------


def create_dag(cluster: Cluster, parents: dict[str, list[str]], work: int) -> tuple[int, str]:
    project = cluster.api("POST", "/projects", {"name": f"chaos {cluster.redis_prefix}"}, expect=201)
    ids: dict[str, int] = {}
    for title, wanted in parents.items():
        body = {
            "title": title,
            "agent_type": "custom",
            "prompt": f"chaos {title} {work}",
            "parent_ids": [ids[p] for p in wanted],
        }
        ids[title] = cluster.api("POST", f"/projects/{project['id']}/nodes", body, expect=201)["id"]
    return int(project["id"]), str(project["workspace_path"])


def sleep_until(cluster: Cluster, moment: float) -> None:
    time.sleep(max(0.0, moment - cluster.now()))


def busiest_runner(cluster: Cluster, runners: list[LoggedProcess]) -> tuple[LoggedProcess, int]:
    """The runner holding the most running steps, and how many (waiting a little for one to hold any)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            holding = cluster.runner_pids_of_running_steps()
        except psycopg.Error:
            holding = {}
        candidates = [r for r in runners if holding.get(r.pid)]
        if candidates:
            victim = max(candidates, key=lambda r: holding[r.pid])
            return victim, holding[victim.pid]
        time.sleep(0.1)
    return runners[0], 0


def busy(cluster: Cluster, runner: LoggedProcess) -> bool:
    try:
        return bool(cluster.runner_pids_of_running_steps().get(runner.pid))
    except psycopg.Error:
        return False


def progress_of(cluster: Cluster, runner: LoggedProcess, *, until: float) -> bool:
    """Whether ``runner``'s loop claimed or reaped a step between now and ``until``.

    Its runner id is on the steps it claims; a reaped step is finished as crashed. Its workers
    finishing their own steps do not count: they run beside a loop that may be frozen on a lock.
    """
    since = time.time()
    sleep_until(cluster, until)
    rows = cluster.query(
        "SELECT count(*) FILTER (WHERE s.runner_id = p.id AND s.started_at >= to_timestamp(%s)),"
        " count(*) FILTER (WHERE s.crashed AND s.finished_at >= to_timestamp(%s))"
        " FROM agents_steprun s, orchestra_site_hubprocess p WHERE p.pid = %s AND p.stopped_at IS NULL",
        since,
        since,
        runner.pid,
    )
    claimed, finished = rows[0]
    return bool(claimed or finished)


def lock_waits(cluster: Cluster) -> list[str]:
    """The sessions waiting for a lock right now, and which sessions hold it."""
    rows = cluster.query(
        "SELECT pid, pg_blocking_pids(pid), left(query, 100) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return [f"session {pid} waits for a lock held by {holders}: {query!r}" for pid, holders, query in rows] or [
        "no session waits for a lock"
    ]


def wait_for_dag_run(cluster: Cluster, dag_run_id: int, *, timeout: float) -> str:
    """The run's status once finished, or its status when ``timeout`` is up."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        try:
            status = str(cluster.query("SELECT status FROM agents_dagrun WHERE id = %s", dag_run_id)[0][0])
        except psycopg.Error:
            pass  # the database is down: look again
        if status in FINISHED:
            return status
        time.sleep(0.3)
    return f"{status} (still, after {timeout:.0f} s)"


# --- what must hold -------------------------------------------------------------------------------


def check_run(
    cluster: Cluster,
    dag_run_id: int,
    parents: dict[str, list[str]],
    *,
    desired: int,
    status: str,
    killed: list[LoggedProcess],
    dead_after: int,
    once: bool = True,
) -> list[str]:
    """Every broken promise, one line each. ``once``: each node's agent must run to its end once."""
    problems = []
    if status != "completed":
        problems.append(f"the DAG run ended {status!r}, not completed")

    # Nothing the hub started outlives the run (the reaper of a dead runner's agents included).
    leftovers: dict[int, str] = {}
    try:
        wait_for(lambda: not agent_processes(cluster.markers), dead_after + REAP_EVERY, lambda: "")
    except AssertionError:
        leftovers = agent_processes(cluster.markers)
    cluster.stop_sampling()
    if leftovers:
        problems.append(f"orphaned agents still running after the run ended: {sorted(leftovers.items())}")

    events = marker_events(cluster.markers)
    starts = Counter(e["node"] for e in events if e["event"] == "start")
    finishes = Counter(e["node"] for e in events if e["event"] == "finish")
    overlaps = Counter(e["node"] for e in events if e["event"] == "overlap")
    results = completed_results(cluster, dag_run_id)
    for node in parents:
        if finishes[node] != 1 if once else finishes[node] < 1:
            problems.append(
                f"node {node}: its agent ran to its end {finishes[node]} times (started {starts[node]} times)"
            )
        if results.get(node, 0) != 1:
            problems.append(f"node {node}: {results.get(node, 0)} completed results recorded, not 1")
    for node, count in sorted(overlaps.items()):
        problems.append(f"node {node}: an agent started while another agent of the node ran ({count} times)")
    for node, (t, pids) in sorted(cluster.samples.doubled_nodes().items()):
        problems.append(f"node {node}: two live agents at t={t:.1f}s (pids {pids})")

    peak = cluster.samples.peak_agents()
    if peak is not None and len(peak.agents) > desired:
        problems.append(f"{len(peak.agents)} agents ran at once at t={peak.t:.1f}s with desired {desired}")
    peak_row = cluster.samples.peak_running()
    if peak_row is not None and (peak_row.running or 0) > desired:
        problems.append(f"the workspace row said running={peak_row.running} at t={peak_row.t:.1f}s, desired {desired}")

    # Every hub process still alive must still beat: a stale one is reaped by its peers.
    alive = [p for p in cluster.processes if p.alive and p not in killed]
    dead = [p for p in cluster.processes if not p.alive and p not in killed]
    problems.extend(f"{p.name} exited by itself (status {p.popen.returncode})" for p in dead)
    rows = cluster.query(
        "SELECT pid, EXTRACT(EPOCH FROM now() - heartbeat_at) FROM orchestra_site_hubprocess WHERE stopped_at IS NULL"
    )
    ages = {int(pid): float(age) for pid, age in rows}
    for process in alive:
        age = ages.get(process.pid, float("inf"))
        if age > dead_after:
            problems.append(f"{process.name} is alive but its heartbeat is {age:.0f} s old (dead after {dead_after} s)")
    return problems


def completed_results(cluster: Cluster, dag_run_id: int) -> dict[str, int]:
    """node title -> how many of its step runs in this DAG run recorded a completed result."""
    rows = cluster.query(
        "SELECT n.title, count(s.id) FILTER (WHERE s.status = 'completed') FROM agents_dagrunnode r"
        " JOIN projects_node n ON n.id = r.node_id"
        " LEFT JOIN agents_execution e ON e.dag_run_node_id = r.id"
        " LEFT JOIN agents_steprun s ON s.execution_id = e.id"
        " WHERE r.dag_run_id = %s GROUP BY n.title",
        dag_run_id,
    )
    return {str(title): int(count) for title, count in rows}


def step_runs_table(cluster: Cluster) -> list[str]:
    rows = cluster.query(
        "SELECT n.title, s.id, s.status, s.crashed, p.hostname || ':' || p.pid, s.pid,"
        " left(coalesce(s.error, ''), 110)"
        " FROM agents_steprun s JOIN agents_execution e ON e.id = s.execution_id"
        " JOIN agents_dagrunnode r ON r.id = e.dag_run_node_id JOIN projects_node n ON n.id = r.node_id"
        " LEFT JOIN orchestra_site_hubprocess p ON p.id = s.runner_id ORDER BY n.title, s.id"
    )
    return [
        f"  {title} step_run={sid} {status}{' crashed' if crashed else ''} runner={runner} agent={pid} {error}"
        for title, sid, status, crashed, runner, pid, error in rows
    ]


def report_findings(cluster: Cluster, faults: list[str], problems: list[str]) -> None:
    print("----- faults injected")  # shown with -rP when all is well
    print("\n".join(faults))
    if not problems:
        return
    print("----- step runs")
    try:
        print("\n".join(step_runs_table(cluster)))
    except psycopg.Error as exc:
        print(f"  (could not read them: {exc})")
    print(cluster.report())
    pytest.fail("\n".join(["the hub broke its promises under faults:", *problems]), pytrace=False)
