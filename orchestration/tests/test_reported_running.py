"""``PUT .../running`` reports agents outside the hub; it never hides the hub's own from the runner."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from orchestration import services
from orchestration.models import Totals, Workspace

pytestmark = pytest.mark.django_db

PATH = "/srv/repo"
RUNNING_URL = "/api/orchestration/workspace/%2Fsrv%2Frepo/running"


def test_a_report_is_added_to_the_hubs_own_agents_and_never_frees_their_slots(api_client: APIClient) -> None:
    services.workspace_set_desired(path=PATH, desired=2)
    assert services.workspace_reserve_slot(path=PATH, global_cap=8)
    assert services.workspace_reserve_slot(path=PATH, global_cap=8)
    body = api_client.put(RUNNING_URL, {"running": 0}, format="json").json()
    assert body["workspace"]["running"] == 2  # the hub's two agents still run
    assert not services.workspace_reserve_slot(path=PATH, global_cap=8)  # desired 2 stays the bound
    body = api_client.put(RUNNING_URL, {"running": 3}, format="json").json()
    assert (body["workspace"]["running"], body["global"]["running"]) == (5, 5)
    services.workspace_release_slot(path=PATH)
    workspace = Workspace.objects.get(path=PATH)
    assert (workspace.running, workspace.hub_running, workspace.reported_running) == (4, 1, 3)
    assert Totals.objects.get().running == 4


def test_releasing_never_takes_from_the_reported_count() -> None:
    services.workspace_set_desired(path=PATH, desired=1)
    services.workspace_set_running(path=PATH, running=2)
    services.workspace_release_slot(path=PATH)  # no hub slot held: nothing to give back
    assert Workspace.objects.get(path=PATH).running == 2


def test_a_report_is_bounded_by_the_setting(api_client: APIClient, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MAX_REPORTED_RUNNING = 50
    response = api_client.put(RUNNING_URL, {"running": 999999}, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, "running: must be from 0 to 50, got 999999.")
    assert not Workspace.objects.filter(path=PATH).exists()
    assert api_client.put(RUNNING_URL, {"running": 50}, format="json").status_code == 200


@pytest.mark.parametrize("shape", ["list", "object"])
def test_a_body_nested_too_deep_is_a_400(api_client: APIClient, shape: str) -> None:
    depth = 100_000
    body = "[" * depth + "]" * depth if shape == "list" else '{"a":' * depth + "1" + "}" * depth
    response = api_client.generic("PUT", RUNNING_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "nests more than 64 levels deep" in response.json()["detail"]


def test_a_body_nested_moderately_deep_is_refused_before_any_service_sees_it(api_client: APIClient) -> None:
    metadata: dict[str, object] = {}
    for _ in range(70):
        metadata = {"a": metadata}
    response = api_client.post("/projects", {"name": "p", "metadata": metadata}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("body", ['{"desired": 1, "x\\u0000": 1}', '{"desired": 1, "note": "a\\u0000b"}'])
def test_a_nul_anywhere_in_a_body_is_a_400_on_every_database(api_client: APIClient, body: str) -> None:
    response = api_client.generic(
        "PUT", RUNNING_URL.replace("running", "desired"), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
