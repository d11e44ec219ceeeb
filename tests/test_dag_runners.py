"""Runners on several machines: each ``runagents`` takes only steps under its own workspace roots."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.hub_processes import REDIS_URL, ROOT, hub_env, migrate, postgres_database, running_hub

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
DAG_AGENT = f"{sys.executable},{ROOT / 'tests' / 'dag_agent.py'},{{prompt}}"


@contextmanager
def runagents(env: dict[str, str], root: Path) -> Iterator[subprocess.Popen[str]]:
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "runagents"],
        cwd=ROOT,
        env={**env, "ORCHESTRA_WORKSPACE_ROOTS": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield runner
    finally:
        runner.terminate()
        runner.wait(30)


def poll(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {check}")


def test_each_step_runs_on_the_runner_that_serves_its_workspace_and_an_unserved_one_waits(tmp_path: Path) -> None:
    roots = {name: tmp_path / name for name in ("east", "west", "nowhere")}
    for root in roots.values():
        root.mkdir()
    with postgres_database() as database_url:
        env = hub_env(
            tmp_path / "data",
            ORCHESTRA_DATABASE_URL=database_url,
            ORCHESTRA_REDIS_URL=REDIS_URL,
            ORCHESTRA_WORKSPACE_ROOTS=",".join(str(root) for root in roots.values()),
            ORCHESTRA_CUSTOM_AGENT_COMMAND=DAG_AGENT,
        )
        migrate(env)
        with (
            running_hub(env, "--no-runner") as hub,
            runagents(env, roots["east"]) as east,
            runagents(env, roots["west"]) as west,
        ):
            runs = {}
            for name, root in roots.items():
                _, project = hub.request("POST", "/projects", {"name": name, "workspace_path": str(root / "repo")})
                pid = project["id"]
                first = hub.request(
                    "POST", f"/projects/{pid}/nodes", {"title": "a", "agent_type": "custom", "prompt": "ok"}
                )
                body = {"title": "b", "agent_type": "custom", "prompt": "ok", "parent_ids": [first[1]["id"]]}
                hub.request("POST", f"/projects/{pid}/nodes", body)
                status, run = hub.request("POST", f"/projects/{pid}/dag-runs", {})
                assert status == 201
                runs[name] = (pid, run["id"])

            def status_of(name: str) -> dict[str, Any]:
                pid, run_id = runs[name]
                return hub.request("GET", f"/projects/{pid}/dag-runs/{run_id}")[1]  # type: ignore[return-value]

            for name in ("east", "west"):
                assert poll(lambda name=name: status_of(name)["status"] == "completed")
            nowhere = status_of("nowhere")
            pid, _ = runs["nowhere"]
            execution_id = poll(lambda: status_of("nowhere")["nodes"][0]["execution_ids"])[0]
            reason = f"waiting for a runner that serves {roots['nowhere'] / 'repo'}"

            def waiting_reason() -> Any:
                execution = hub.request("GET", f"/projects/{pid}/executions/{execution_id}")[1]
                return execution["step_runs"][0]["metadata"].get("waiting_for")

            assert poll(waiting_reason, timeout=30) == reason

            def logged() -> bool:
                log = hub.request("GET", f"/projects/{pid}/executions/{execution_id}/log")[1]
                return any(reason in entry["data"].get("data", "") for entry in log["entries"])

            assert poll(logged, timeout=30)
            nowhere = status_of("nowhere")
            assert nowhere["status"] == "running"
            assert [n["status"] for n in nowhere["nodes"]] == ["queued", "waiting"]
            pids = {"east": east.pid, "west": west.pid}
            with runagents(env, roots["nowhere"]):  # a runner for it comes up: the run goes on
                assert poll(lambda: status_of("nowhere")["status"] == "completed")

        with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
            rows = conn.execute(
                "SELECT e.project_id, p.pid FROM agents_steprun s JOIN agents_execution e ON s.execution_id = e.id"
                " JOIN orchestra_site_hubprocess p ON s.runner_id = p.id"
            ).fetchall()
        ran_on = {(project_id, pid) for project_id, pid in rows if pid in pids.values()}
        assert ran_on == {(runs["east"][0], pids["east"]), (runs["west"][0], pids["west"])}
        assert len(rows) == 6
