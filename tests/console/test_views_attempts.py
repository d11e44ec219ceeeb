"""The execution page: the conversation with its message box, and a best-of-N group side by side."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agents.models import Execution, StepRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(api_client: APIClient) -> dict[str, Any]:
    return api_client.post("/projects", {"name": "Console"}, format="json").json()


def launch(api_client: APIClient, project: dict[str, Any], **body: Any) -> dict[str, Any]:
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Fix"}, format="json").json()
    steps = [{"name": "Try", "agent_type": "claude", "prompt_template": "x"}]
    template = api_client.post("/agent-templates", {"name": "Best", "steps": steps}, format="json").json()
    url = f"/projects/{project['id']}/nodes/{node['id']}/launch"
    response = api_client.post(url, {"template_id": template["id"], **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_execution_page_has_the_conversation_and_a_box_for_the_next_message(
    api_client: APIClient, project: dict[str, Any]
) -> None:
    execution = launch(api_client, project)
    html = Client().get(f"/console/projects/{project['id']}/executions/{execution['id']}").content.decode()
    assert 'id="conversation-entries"' in html and 'id="message-prompt"' in html and 'id="message-send"' in html
    assert "console/conversation.js" in html
    assert 'id="attempts"' not in html  # alone: no attempts to compare


def test_an_attempt_s_page_shows_every_attempt_of_its_group_side_by_side(
    api_client: APIClient, project: dict[str, Any]
) -> None:
    first = launch(api_client, project, attempts=3)
    ids = list(Execution.objects.filter(attempt_group=first["id"]).order_by("attempt").values_list("pk", flat=True))
    Execution.objects.filter(pk=ids[1]).update(status="discarded")
    StepRun.objects.filter(execution_id=ids[2]).update(cost_usd=0.0321)
    html = Client().get(f"/console/projects/{project['id']}/executions/{ids[2]}").content.decode()
    assert html.count('<article class="attempt') == 3
    for number, execution_id in enumerate(ids, start=1):
        assert f'data-execution="{execution_id}"' in html and f"Attempt {number}</a>" in html
    assert ">discarded<" in html and "0.0321" in html and "3 of 3" in html
    assert f"<code>agent/exec-{ids[0]}</code>" in html
