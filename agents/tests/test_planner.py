"""``POST /projects/{pid}/plan`` asks the real planner CLI (against the fake model) for a DAG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import point_clis_at

pytestmark = [pytest.mark.cli, pytest.mark.django_db]

PLAN = {
    "nodes": [
        {"title": "Read the parser", "description": "Find where tokens are split."},
        {"title": "Fix the bug", "description": "Handle escaped quotes."},
        {"title": "Add tests", "description": "Cover escaped quotes."},
    ],
    "edges": [{"source_index": 0, "target_index": 1}, {"source_index": 1, "target_index": 2}],
}


def test_the_planner_agent_drafts_nodes_and_edges(
    api_client: APIClient, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any
) -> None:
    with FakeModelServer(text=json.dumps(PLAN)) as server:
        point_clis_at(server, monkeypatch, tmp_path / "home", settings)
        response = api_client.post(
            f"/projects/{project['id']}/plan",
            {"prompt": "Fix quoting in the CSV parser", "resources": [{"kind": "file", "title": "parser.py"}]},
            format="json",
        )
        asked = "\n".join(server.user_texts())
    assert response.status_code == 200, response.content
    plan = response.json()
    assert [n["title"] for n in plan["nodes"]] == ["Read the parser", "Fix the bug", "Add tests"]
    assert {n["status"] for n in plan["nodes"]} == {"pending"}
    assert plan["edges"] == PLAN["edges"]
    assert "Fix quoting in the CSV parser" in asked and "parser.py" in asked


def test_a_planner_that_cannot_log_in_is_a_clear_503(
    api_client: APIClient, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    response = api_client.post(f"/projects/{project['id']}/plan", {"prompt": "anything"}, format="json")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The planner agent (claude) failed")
