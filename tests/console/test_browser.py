"""The console in a real browser against a real hub: live updates both ways, the login wall, and
every page at 1280 and 390 px wide without console errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect
from websockets.sync.client import connect

from tests.console.browser import (
    SKIP_REASON,
    STAFF_PASSWORD,
    STAFF_USER,
    WIDTHS,
    chromium,  # noqa: F401 (fixture)
    chromium_available,
    console_hub,  # noqa: F401 (fixture)
    screenshot,
)
from tests.hub_processes import HubProcess

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not chromium_available(), reason=SKIP_REASON)]


class Console:
    """A browser tab on the hub that records every console error and uncaught exception."""

    def __init__(self, context: BrowserContext, hub: HubProcess) -> None:
        self.hub = hub
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console_message)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console_message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def open(self, path: str) -> Page:
        self.page.goto(self.hub.url + path)
        return self.page


@pytest.fixture
def console(chromium: Browser, console_hub: HubProcess) -> Iterator[Console]:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    tab = Console(context, console_hub)
    yield tab
    context.close()
    assert tab.errors == []


def api(hub: HubProcess, method: str, path: str, body: object = None) -> Any:
    status, data = hub.request(method, path, body)
    assert status < 300, (status, data)
    return data


def set_desired(hub: HubProcess, workspace: str, desired: int) -> None:
    api(hub, "PUT", f"/api/orchestration/workspace/{quote(workspace, safe='')}/desired", {"desired": desired})


def row(page: Page, workspace: str) -> Any:
    return page.locator(f'tr[data-workspace="{workspace}"]')


def test_a_desired_change_through_the_api_shows_on_the_open_page(console: Console) -> None:
    set_desired(console.hub, "/srv/browser/api-change", 1)
    page = console.open("/console/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    set_desired(console.hub, "/srv/browser/api-change", 4)
    expect(row(page, "/srv/browser/api-change").locator("input.desired")).to_have_value("4")
    total = api(console.hub, "GET", "/api/orchestration/global")["desired"]
    expect(page.locator("#global-desired")).to_have_text(str(total))
    # A workspace that appears after the page was drawn joins it too.
    set_desired(console.hub, "/srv/browser/new-one", 2)
    expect(row(page, "/srv/browser/new-one").locator("input.desired")).to_have_value("2")


def test_editing_desired_on_the_page_reaches_a_websocket_client(console: Console) -> None:
    workspace = "/srv/browser/edited"
    set_desired(console.hub, workspace, 1)
    page = console.open("/console/")
    with connect(console.hub.ws_url + "/orchestration") as ws:
        ws.send(json.dumps({"event": "subscribe", "data": {"workspaceId": workspace}}))
        field = row(page, workspace).locator("input.desired")
        field.fill("6")
        field.press("Enter")
        deadline = time.monotonic() + 10
        seen: list[int] = []
        while 6 not in seen:
            frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if frame["event"] == "orchestration.workspace" and frame["data"]["workspaceId"] == workspace:
                seen.append(frame["data"]["desired"])
    assert (
        api(console.hub, "GET", f"/api/orchestration/workspace/{quote(workspace, safe='')}")["workspace"]["desired"]
        == 6
    )


def test_a_node_created_through_the_api_appears_in_the_drawn_dag(console: Console) -> None:
    project = api(console.hub, "POST", "/projects", {"name": "Browser DAG"})
    first = api(console.hub, "POST", f"/projects/{project['id']}/nodes", {"title": "Design the parser"})
    page = console.open(f"/console/projects/{project['id']}")
    expect(page.locator(f'#dag [data-node-id="{first["id"]}"]')).to_be_visible()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    second = api(
        console.hub,
        "POST",
        f"/projects/{project['id']}/nodes",
        {"title": "Build the parser", "parent_ids": [first["id"]], "status": "in_progress"},
    )
    drawn = page.locator(f'#dag [data-node-id="{second["id"]}"]')
    expect(drawn).to_contain_text("Build the parser")
    expect(drawn).to_have_class("node status-in_progress")
    expect(page.locator(f'#dag [data-edge="{first["id"]}-{second["id"]}"]')).to_have_count(1)
    # Keyboard: a drawn node is a button that opens the node in the form.
    drawn.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#node-form-title")).to_have_text("Edit Build the parser")


def test_a_node_made_on_the_page_is_stored_and_drawn(console: Console) -> None:
    project = api(console.hub, "POST", "/projects", {"name": "Browser form"})
    page = console.open(f"/console/projects/{project['id']}")
    page.fill("#node-title", "Write the tests")
    page.click("#node-save")
    expect(page.locator("#dag .node")).to_have_count(1)
    stored = api(console.hub, "GET", f"/projects/{project['id']}/graph")["nodes"]
    assert [node["title"] for node in stored] == ["Write the tests"]


def test_a_launched_agent_s_lines_appear_on_the_execution_page_as_they_are_written(console: Console) -> None:
    project = api(console.hub, "POST", "/projects", {"name": "Browser agent"})
    node = api(console.hub, "POST", f"/projects/{project['id']}/nodes", {"title": "Work"})
    template = api(
        console.hub,
        "POST",
        "/agent-templates",
        {
            "name": "Browser fake agent",
            "steps": [{"name": "Work a while", "agent_type": "custom", "prompt_template": "3"}],
        },
    )
    execution = api(
        console.hub, "POST", f"/projects/{project['id']}/nodes/{node['id']}/launch", {"template_id": template["id"]}
    )
    page = console.open(f"/console/projects/{project['id']}/executions/{execution['id']}")
    log = page.locator("#log")
    expect(log).to_contain_text("working on: 3", timeout=15000)
    # Seen while the agent still works, not only once it is done.
    assert "done: 3" not in log.inner_text()
    expect(page.locator("#execution-status")).to_have_text("running")
    expect(log).to_contain_text("done: 3", timeout=15000)
    expect(page.locator("#execution-status")).to_have_text("completed", timeout=10000)
    expect(page.locator("tbody tr[data-step-run] .badge")).to_have_text("completed")


def test_a_message_appears_piece_by_piece_then_whole_on_the_execution_page(console: Console) -> None:
    project = api(console.hub, "POST", "/projects", {"name": "Browser deltas"})
    node = api(console.hub, "POST", f"/projects/{project['id']}/nodes", {"title": "Stream"})
    step = {"name": "Stream", "agent_type": "claude", "prompt_template": "30 0.1"}  # 30 deltas, 0.1 s apart
    template = api(console.hub, "POST", "/agent-templates", {"name": "Browser deltas", "steps": [step]})
    execution = api(
        console.hub, "POST", f"/projects/{project['id']}/nodes/{node['id']}/launch", {"template_id": template["id"]}
    )
    page = console.open(f"/console/projects/{project['id']}/executions/{execution['id']}")
    writing = page.locator("#log .delta")
    expect(writing).to_contain_text(";", timeout=15000)  # pieces shown while the model still writes
    assert page.locator("#execution-status").inner_text() == "running"
    expect(page.locator("#execution-status")).to_have_text("completed", timeout=15000)
    expect(writing).to_have_count(0)  # the whole message took the pieces' place
    final = api(console.hub, "GET", f"/projects/{project['id']}/executions/{execution['id']}")
    whole = final["step_runs"][0]["output"]
    assert whole.count(";") == 30 and whole in page.locator("#log").inner_text()


def test_a_whole_dag_run_is_started_followed_and_cancelled_on_the_project_page(console: Console) -> None:
    project = api(console.hub, "POST", "/projects", {"name": "Browser DAG run"})
    nodes = f"/projects/{project['id']}/nodes"
    first = api(console.hub, "POST", nodes, {"title": "Slow", "agent_type": "custom", "prompt": "30"})
    api(
        console.hub,
        "POST",
        nodes,
        {"title": "After", "agent_type": "custom", "prompt": "1", "parent_ids": [first["id"]]},
    )
    page = console.open(f"/console/projects/{project['id']}")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    page.click("#dag-run-start")
    run = page.locator("#dag-run-rows tr").first
    expect(run.locator(".badge")).to_have_text("running", timeout=15000)
    expect(page.locator(f'#dag [data-node-id="{first["id"]}"]')).to_have_class("node status-in_progress", timeout=15000)
    run.locator("button").click()
    expect(run.locator(".badge")).to_have_text("cancelled", timeout=15000)
    stored = api(console.hub, "GET", f"/projects/{project['id']}/dag-runs")
    assert [dag_run["status"] for dag_run in stored] == ["cancelled"]


def test_a_stranger_meets_the_login_wall_and_a_staff_user_gets_in(chromium: Browser, console_hub: HubProcess) -> None:  # noqa: F811
    set_desired(console_hub, "/srv/browser/private", 3)
    # Through a proxy, so the hub does not trust the request as loopback.
    context = chromium.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    tab = Console(context, console_hub)
    try:
        page = tab.open("/console/")
        expect(page).to_have_url(console_hub.url + "/console/login?next=/console/")
        assert "/srv/browser/private" not in page.content()
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, f"login-{width}")
        page.fill("#id_username", STAFF_USER)
        page.fill("#id_password", STAFF_PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(console_hub.url + "/console/")
        expect(row(page, "/srv/browser/private")).to_be_visible()
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
        # A signed-in user's writes go through the API with the session and its CSRF token.
        field = row(page, "/srv/browser/private").locator("input.desired")
        field.fill("5")
        field.press("Enter")
        expect(page.locator("#toast")).to_be_hidden()
        workspace = api(console_hub, "GET", f"/api/orchestration/workspace/{quote('/srv/browser/private', safe='')}")
        deadline = time.monotonic() + 10
        while workspace["workspace"]["desired"] != 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            workspace = api(
                console_hub, "GET", f"/api/orchestration/workspace/{quote('/srv/browser/private', safe='')}"
            )
        assert workspace["workspace"]["desired"] == 5
        assert tab.errors == []
    finally:
        context.close()


def test_every_page_fits_1280_and_390_pixels_and_has_screenshots(console: Console) -> None:
    project = api(console.hub, "POST", "/projects", {"name": "Screenshots", "description": "A small DAG"})
    titles = ["Plan", "Parser", "Printer", "Tests", "Release"]
    ids: list[int] = []
    for index, title in enumerate(titles):
        parents = [ids[0]] if index in (1, 2) else ids[1:3] if index == 3 else ids[3:4]
        status = ["completed", "in_progress", "pending", "blocked", "pending"][index]
        ids.append(
            api(
                console.hub,
                "POST",
                f"/projects/{project['id']}/nodes",
                {"title": title, "parent_ids": parents, "status": status},
            )["id"]
        )
    templates = api(console.hub, "GET", "/agent-templates")
    quick = api(
        console.hub,
        "POST",
        "/agent-templates",
        {"name": "Quick agent", "steps": [{"name": "Answer", "agent_type": "custom", "prompt_template": "1"}]},
    )
    execution = api(
        console.hub, "POST", f"/projects/{project['id']}/nodes/{ids[0]}/launch", {"template_id": quick["id"]}
    )
    pages = {
        "workspaces": "/console/",
        "projects": "/console/projects",
        "project": f"/console/projects/{project['id']}",
        "executions": "/console/executions",
        "execution": f"/console/projects/{project['id']}/executions/{execution['id']}",
        "templates": "/console/templates",
        "template": f"/console/templates/{templates[-1]['id']}",
    }
    for width_name, (width, height) in WIDTHS.items():
        console.page.set_viewport_size({"width": width, "height": height})
        for name, path in pages.items():
            page = console.open(path)
            page.wait_for_load_state("networkidle")
            if name == "execution":
                expect(page.locator("#execution-status")).to_have_text("completed", timeout=15000)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (name, width_name, overflow)
            screenshot(page, f"{name}-{width}")
