"""Helpers for the DAG-run tests: nodes through the API, a DAG run, the events it caused."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import DagRun
from orchestra_site.realtime import events as site_events
from tests.support.agent_runs import ROOT

DAG_AGENT = [sys.executable, str(ROOT / "tests" / "dag_agent.py"), "{prompt}"]


def add_node(
    client: APIClient, project: dict[str, Any], title: str, prompt: str, *parents: dict[str, Any], agent: str = "custom"
) -> dict[str, Any]:
    body = {"title": title, "agent_type": agent, "prompt": prompt, "parent_ids": [p["id"] for p in parents]}
    response = client.post(f"/projects/{project['id']}/nodes", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def start_dag_run(client: APIClient, project: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = client.post(f"/projects/{project['id']}/dag-runs", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def dag_run_body(client: APIClient, project: dict[str, Any], dag_run_id: int) -> dict[str, Any]:
    return client.get(f"/projects/{project['id']}/dag-runs/{dag_run_id}").json()


def dag_run_finished(dag_run_id: int) -> Any:
    return lambda: DagRun.objects.get(pk=dag_run_id).status in ("completed", "failed", "cancelled")


def by_node(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {entry["node_id"]: entry for entry in body["nodes"]}


class EventLog:
    """Every frame this process delivers, in delivery order: ``(group, {"event", "data"})``."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [frame["data"] for _, frame in self.frames if frame.get("event") == name]


@pytest.fixture
def event_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventLog]:
    log = EventLog()
    deliver = site_events.deliver

    def recording(group: str, frames: list[Any]) -> None:
        with log.lock:
            log.frames.extend((group, json.loads(text)) for text, _ in frames)
        deliver(group, frames)

    monkeypatch.setattr(site_events, "deliver", recording)
    yield log


@pytest.fixture
def dag_agent(settings: Any) -> list[str]:
    settings.CUSTOM_AGENT_COMMAND = DAG_AGENT
    return DAG_AGENT
