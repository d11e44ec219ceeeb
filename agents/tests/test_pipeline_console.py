"""The console's execution page of a pipeline: phases and agents, the review form at the gate, then
the answers, the critics' votes with their reasons, the diff and the deliverables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from orchestration.services import workspace_set_desired
from tests.support.pipelines import (
    CRITIC_NO,
    CRITIC_YES,
    IMPLEMENTATION,
    answer_phase,
    git_init,
    launch_pipeline,
    run_to_review,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_execution_page_shows_the_pipeline_and_its_review(api_client: APIClient, project: dict[str, Any]) -> None:
    workspace_set_desired(path=project["workspace_path"], desired=3)
    git_init(Path(project["workspace_path"]))
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Write the parser"}, format="json").json()
    execution_id = launch_pipeline(api_client, project, node)["execution_id"]
    page = f"/console/projects/{project['id']}/executions/{execution_id}"
    run_to_review(execution_id)

    html = Client().get(page).content.decode()
    assert "Pipeline: Research-Driven Multi-Agent Pipeline" in html
    assert "<strong>Research</strong>" in html and "<strong>Ideation</strong>" in html
    assert html.count('class="agent"') == 5  # gemini; claude, codex, gemini; claude
    assert "waiting for you" in html and 'id="review-form"' in html
    assert "Which format should win?" in html and "Use a library" in html
    assert "sources.md" in html and "plan.md" in html

    api_client.post(f"/projects/{project['id']}/nodes/{node['id']}/feedback", {"answers": {"0": "TOML"}}, format="json")
    answer_phase(
        execution_id, IMPLEMENTATION, before_finish=lambda: Path(project["workspace_path"], "p.txt").write_text("x\n")
    )
    answer_phase(execution_id, {"claude": CRITIC_NO, "codex": CRITIC_YES, "gemini": CRITIC_YES})

    html = Client().get(page).content.decode()
    assert 'id="review-form"' not in html and "approved" in html
    assert "<dd>TOML</dd>" in html
    assert "Critics&#x27; votes" in html or "Critics' votes" in html
    assert "the file lacks a header" in html and "add a header line to parser.txt" in html
    assert "+++ b/p.txt" in html
    assert "Implementation (attempt 1)" in html and "Critics (attempt 1)" in html
