"""End to end: the data dir's disk fills up while an agent runs, then frees up again.

A real ``serve`` on SQLite in a small tmpfs (root only: it mounts one), an agent printing all the
while, and a file that takes every byte left. The hub must answer clearly (never a 500), say so on
``/health``, stop the agent when cancelled, and when space comes back settle everything without a
restart: the step finished, its slot freed.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub_processes import ROOT, HubProcess, hub_env, migrate, running_hub
from tests.support.agent_runs import wait_for

pytestmark = pytest.mark.slow
FAKE_AGENT = f"{sys.executable},{ROOT / 'bench' / 'fake_agent.py'},{{prompt}}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a small tmpfs needs root: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every byte the disk has left."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    return filler
                block = block[: len(block) // 2]
    finally:
        os.close(fd)


def agent_pid(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("SELECT pid FROM agents_steprun WHERE status = 'running'").fetchone()[0]


def created(hub: HubProcess, path: str, body: dict[str, Any]) -> Any:
    status, answer = hub.request("POST", path, body)
    assert status == 201, answer
    return answer


def test_a_full_disk_is_answered_clearly_and_nothing_leaks_when_space_comes_back(small_disk: Path) -> None:
    env = hub_env(small_disk / "data", ORCHESTRA_CUSTOM_AGENT_COMMAND=FAKE_AGENT)
    migrate(env)
    with running_hub(env) as hub:
        project = created(hub, "/projects", {"name": "Disk"})
        steps = [{"name": "Work", "agent_type": "custom", "prompt_template": "120"}]
        template = created(hub, "/agent-templates", {"name": "long", "steps": steps})
        node = created(hub, f"/projects/{project['id']}/nodes", {"title": "n", "agent_type": "custom", "prompt": "x"})
        launch = f"/projects/{project['id']}/nodes/{node['id']}/launch"
        execution = created(hub, launch, {"template_id": template["id"]})
        base = f"/projects/{project['id']}/executions/{execution['id']}"
        wait_for(lambda: hub.request("GET", base)[1]["status"] == "running")

        filler = fill(small_disk)
        # The hub says so: /health turns degraded with the reason once writes fail.
        health: Any = wait_for(lambda: (answer := hub.request("GET", "/health"))[0] == 503 and answer[1])
        assert health["database_writable"] is False
        assert "the database refused a write" in health["reasons"][0]
        # Writes are refused clearly, never with a 500.
        workspace = "/api/orchestration/workspace/" + project["workspace_path"].replace("/", "%2F")
        codes = {hub.request("PUT", workspace, {"desired": n % 3 + 1})[0] for n in range(20)}
        assert codes <= {200, 507, 503}, codes
        assert codes & {507, 503}

        # Cancel, with the disk still full: answered 200 only if recorded, and then the agent stops.
        pid = agent_pid(small_disk / "data" / "orchestra.sqlite3")
        status, cancelled = hub.request("POST", base + "/cancel")
        assert status in (200, 503, 507), cancelled
        if status == 200:
            wait_for(lambda: not Path(f"/proc/{pid}").exists())

        filler.unlink()  # space comes back
        wait_for(lambda: hub.request("GET", "/health")[0] == 200)
        if status != 200:
            assert hub.request("POST", base + "/cancel")[0] == 200
        wait_for(lambda: not Path(f"/proc/{pid}").exists())
        # Its step is settled and its slot freed, without a restart.
        wait_for(lambda: hub.request("GET", base)[1]["status"] == "cancelled")
        wait_for(lambda: hub.request("GET", "/api/orchestration/global")[1]["running"] == 0)
