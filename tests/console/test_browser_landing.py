"""An execution's changes in a real browser against a real hub: the hub's runner runs an agent
in its own worktree, the page lists what it changed, and Merge lands it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.console.browser import (
    SKIP_REASON,
    chromium,  # noqa: F401 (fixture)
    chromium_available,
    console_hub,  # noqa: F401 (fixture)
    screenshot,
)
from tests.console.test_browser import Console, api
from tests.hub_processes import HubProcess

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not chromium_available(), reason=SKIP_REASON)]


@pytest.fixture
def console(chromium: Browser, console_hub: HubProcess) -> Iterator[Console]:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    tab = Console(context, console_hub)
    yield tab
    context.close()
    # The browser logs the refused second merge (409) as a failed load: that one is expected.
    assert [error for error in tab.errors if "status of 409" not in error] == []


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=o@example.com", "-c", "user.name=Owner", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_the_changes_of_an_agent_are_shown_and_merged_from_the_page(console: Console) -> None:
    hub = console.hub
    project = api(hub, "POST", "/projects", {"name": "Browser landing"})
    workspace = Path(project["workspace_path"])
    workspace.mkdir(parents=True, exist_ok=True)
    git(workspace, "init", "-q", "-b", "main")
    (workspace / "app.py").write_text("print(0)\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "start")
    node = api(hub, "POST", f"/projects/{project['id']}/nodes", {"title": "Add a feature"})
    template = api(
        hub,
        "POST",
        "/agent-templates",
        {
            "name": "Writer",
            "steps": [{"name": "Write", "agent_type": "custom", "prompt_template": "write feature.py print(1)"}],
        },
    )
    execution = api(
        hub,
        "POST",
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "create_worktree": True},
    )
    url = f"/projects/{project['id']}/executions/{execution['id']}"
    deadline = time.monotonic() + 30
    while api(hub, "GET", url)["status"] != "completed":
        assert time.monotonic() < deadline, api(hub, "GET", url)
        time.sleep(0.2)
    page = console.open(f"/console{url}")
    expect(page.locator("#changed-files")).to_contain_text("feature.py")
    expect(page.locator("#file-diffs")).to_contain_text("+print(1)")
    screenshot(page, "execution-changes-wide")
    page.locator("#merge-strategy").select_option("squash")
    page.locator("#land-merge").click()
    expect(page.locator("#landing-result")).to_contain_text("Merged into main")
    assert (workspace / "feature.py").read_text() == "print(1)\n"
    assert git(workspace, "status", "--porcelain") == ""
    page.locator("#land-merge").click()
    expect(page.locator("#landing-result")).to_contain_text("already merged")
