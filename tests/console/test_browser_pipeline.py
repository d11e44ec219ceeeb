"""A pipeline on the console's execution page in a real browser: its phases fill in live, the
review form appears at the gate, approving it there runs the implementation and the critics, and
their votes and the deliverables show without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from bench.hubs import workspace_url
from bench.pipeline import instant_pipeline
from tests.console.browser import SKIP_REASON, chromium, chromium_available, start_console_hub  # noqa: F401
from tests.console.test_browser import Console, api
from tests.hub_processes import HubProcess

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not chromium_available(), reason=SKIP_REASON)]


@pytest.fixture(scope="module")
def pipeline_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    folder = tmp_path_factory.mktemp("pipeline-hub")
    hub = start_console_hub(
        folder, agent="pipeline_agent.py", ORCHESTRA_PIPELINE_FILE=str(instant_pipeline(Path(folder)))
    )
    try:
        yield hub
    finally:
        hub.stop()


def test_the_review_form_approves_and_the_votes_appear(chromium: Browser, pipeline_hub: HubProcess) -> None:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    console = Console(context, pipeline_hub)
    project = api(pipeline_hub, "POST", "/projects", {"name": "Browser pipeline"})
    api(pipeline_hub, "PUT", workspace_url(project["workspace_path"]), {"desired": 3})
    node = api(pipeline_hub, "POST", f"/projects/{project['id']}/nodes", {"title": "Work"})
    launched = api(pipeline_hub, "POST", f"/projects/{project['id']}/nodes/{node['id']}/launch-pipeline", {})
    page = console.open(f"/console/projects/{project['id']}/executions/{launched['execution_id']}")
    form = page.locator("#review-form")
    expect(form).to_be_visible(timeout=30000)  # research, ideation and synthesis ran meanwhile
    expect(page.locator("#pipeline")).to_contain_text("Go?")
    expect(page.locator("#pipeline")).to_contain_text("sources.md")
    form.locator("textarea[name=answer]").fill("yes, go")
    form.locator("button[data-approved=true]").click()
    expect(page.locator("#execution-status")).to_have_text("completed", timeout=30000)
    expect(page.locator("#votes-title")).to_be_visible(timeout=10000)
    expect(page.locator("#pipeline")).to_contain_text("yes, go")
    expect(page.locator("#pipeline table")).to_contain_text("YES")
    context.close()
    assert console.errors == []
