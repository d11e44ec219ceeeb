"""Fixtures and helpers for the runner tests: real CLIs against the fake model server."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.db import close_old_connections
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from agents.runner.loop import Runner
from orchestra_site.heartbeat import Heartbeat
from orchestra_site.models import HubProcess
from orchestra_site.services import hub_process_register
from tests.agent_env import offline_env
from tests.fake_model_server import FakeModelServer

ROOT = Path(__file__).resolve().parents[2]
FAKE_AGENT = [sys.executable, str(ROOT / "bench" / "fake_agent.py")]
TEST_PASSTHROUGH = ["DISABLE_TELEMETRY", "DISABLE_ERROR_REPORTING", "NO_COLOR", "CI"]


@pytest.fixture
def fake_agent(settings: Any) -> list[str]:
    """``agent_type: custom`` runs the stand-in agent the bench uses too (``bench/fake_agent.py``)."""
    settings.CUSTOM_AGENT_COMMAND = [*FAKE_AGENT, "{prompt}"]
    return settings.CUSTOM_AGENT_COMMAND


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    with FakeModelServer(text="The fake model's answer.", input_tokens=11, output_tokens=7) as server:
        yield server


@pytest.fixture
def slow_model() -> Iterator[FakeModelServer]:
    with FakeModelServer(text="slow " * 200, chunks=200, chunk_delay=0.5) as server:
        yield server


def point_clis_at(server: FakeModelServer, monkeypatch: pytest.MonkeyPatch, home: Path, settings: Any) -> None:
    """The hub's own environment, as a user would set it: each CLI's usual variables."""
    env: dict[str, str] = {}
    for cli in ("claude", "codex", "gemini"):
        env.update(offline_env(cli, server.url, home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.AGENT_ENV_PASSTHROUGH = TEST_PASSTHROUGH


@pytest.fixture
def clis(
    fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any
) -> FakeModelServer:
    point_clis_at(fake_model, monkeypatch, tmp_path / "home", settings)
    return fake_model


@pytest.fixture
def slow_clis(
    slow_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any
) -> FakeModelServer:
    point_clis_at(slow_model, monkeypatch, tmp_path / "home", settings)
    return slow_model


@pytest.fixture
def project(api_client: APIClient) -> dict[str, Any]:
    response = api_client.post("/projects", {"name": "Runner tests"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def node(api_client: APIClient, project: dict[str, Any]) -> dict[str, Any]:
    response = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Fix the parser"}, format="json")
    return response.json()


def make_template(
    client: APIClient,
    steps: list[tuple[str, str, str]],
    edges: Sequence[tuple[int, int]] = (),
    **metadata: Any,
) -> dict[str, Any]:
    body = {
        "name": f"t-{time.monotonic_ns()}",
        "metadata": metadata,
        "steps": [{"name": n, "agent_type": a, "prompt_template": p} for n, a, p in steps],
        "edges": [{"parent_id": p, "child_id": c} for p, c in edges],
    }
    response = client.post("/agent-templates", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def launch(
    client: APIClient, project: dict[str, Any], node: dict[str, Any], template: dict[str, Any]
) -> dict[str, Any]:
    response = client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch", {"template_id": template["id"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


class RunnerThread:
    """A real Runner in a background thread of the test process."""

    def __init__(self) -> None:
        self.process = hub_process_register(kind=HubProcess.KIND_RUNNER)
        self.stop = threading.Event()
        self.heartbeat = Heartbeat(process_id=self.process.pk, stop=self.stop)
        self.runner = Runner(hub_process_id=self.process.pk, stop=self.stop, heartbeat=self.heartbeat)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run_forever()
        finally:
            close_old_connections()

    def __enter__(self) -> RunnerThread:
        self.heartbeat.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.halt()
        self.thread.join(timeout=60)
        self.heartbeat.join(timeout=10)


def wait_for(predicate: Callable[[], Any], *, timeout: float = 60, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def execution_finished(execution_id: int) -> Callable[[], bool]:
    return lambda: Execution.objects.get(pk=execution_id).is_finished


def running_step(execution_id: int) -> Callable[[], StepRun | None]:
    return lambda: StepRun.objects.filter(execution_id=execution_id, status="running", pid__isnull=False).first()


def pid_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False
