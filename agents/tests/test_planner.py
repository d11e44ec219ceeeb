"""``POST /projects/{pid}/plan`` asks the real planner CLI (against the fake model) for a DAG."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from orchestra_site.asgi_handler import HTTP_WORKERS, http_application
from projects.services import project_create
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import point_clis_at
from tests.support.asgi_scopes import asgi_exchange, response_body

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


SLOW_PLANNER = f"import sys, time; time.sleep(1.5); print({json.dumps(json.dumps(PLAN))})"


async def asgi_call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes, float]:
    """One request through the hub's ASGI handler: status, headers, body, and when it was answered."""
    sent = await asgi_exchange(app, method, path, body)
    headers = {name.decode().lower(): value.decode() for name, value in sent[0].get("headers", [])}
    return sent[0]["status"], headers, response_body(sent), time.monotonic()


@pytest.mark.django_db(transaction=True)
async def test_plans_over_the_cap_get_429_while_other_requests_are_answered(settings: Any) -> None:
    settings.PLANNER_AGENT = "custom"
    settings.CUSTOM_AGENT_COMMAND = [sys.executable, "-c", SLOW_PLANNER, "{prompt}"]
    assert settings.PLAN_CONCURRENCY == 2
    project = await sync_to_async(project_create)(name="Busy")
    app = http_application()  # the handler `serve` runs: a fixed pool of HTTP threads
    plan = json.dumps({"prompt": "Plan it"}).encode()
    plans = [asyncio.create_task(asgi_call(app, "POST", f"/projects/{project.pk}/plan", plan)) for _ in range(5)]
    await asyncio.sleep(0.3)
    health = await asgi_call(app, "GET", "/health")
    listing = await asgi_call(app, "GET", "/projects")
    answers = await asyncio.gather(*plans)

    planned = [answer for answer in answers if answer[0] == 200]
    refused = [answer for answer in answers if answer[0] == 429]
    assert len(planned) == 2 and len(refused) == 3, [answer[:3] for answer in answers]
    for _, headers, content, _ in refused:
        assert headers["retry-after"] == "10"
        assert "ORCHESTRA_PLAN_CONCURRENCY=2" in json.loads(content)["detail"]
    assert [n["title"] for n in json.loads(planned[0][2])["nodes"]] == ["Read the parser", "Fix the bug", "Add tests"]
    # Both were answered while the two plans still ran (each takes 1.5 s).
    assert health[0] == 200 and listing[0] == 200
    assert max(health[3], listing[3]) < min(answer[3] for answer in planned)
    # The slots are given back: the next plan runs.
    assert (await asgi_call(app, "POST", f"/projects/{project.pk}/plan", plan))[0] == 200


@pytest.mark.django_db(transaction=True)
async def test_more_plans_than_http_threads_leave_every_other_request_its_threads(settings: Any) -> None:
    settings.PLANNER_AGENT = "custom"
    settings.CUSTOM_AGENT_COMMAND = [sys.executable, "-c", SLOW_PLANNER, "{prompt}"]
    settings.PLAN_CONCURRENCY = HTTP_WORKERS + 1  # as many plans as there are HTTP threads, and one more
    project = await sync_to_async(project_create)(name="Busy")
    app = http_application()
    plan = json.dumps({"prompt": "Plan it"}).encode()
    plans = [asyncio.create_task(asgi_call(app, "POST", f"/projects/{project.pk}/plan", plan)) for _ in range(5)]
    await asyncio.sleep(0.3)
    others = await asyncio.gather(*(asgi_call(app, "GET", "/projects") for _ in range(HTTP_WORKERS * 2)))
    answers = await asyncio.gather(*plans)
    assert [answer[0] for answer in answers] == [200] * 5
    assert {answer[0] for answer in others} == {200}
    assert max(answer[3] for answer in others) < min(answer[3] for answer in answers)  # none waited for a plan
