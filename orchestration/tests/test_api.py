from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from orchestration.models import Totals, Workspace

pytestmark = pytest.mark.django_db
BASE = "/api/orchestration"


def put(client: APIClient, path: str, body: object) -> Any:
    return client.put(f"{BASE}/{path}", body, format="json")


def test_get_answers_the_workspace_and_the_totals(api_client: APIClient) -> None:
    put(api_client, "workspace/%2FUsers%2Falice%2Fx", {"desired": 3})
    put(api_client, "workspace/%2Fother", {"desired": 2})
    response = api_client.get(f"{BASE}/workspace/%2FUsers%2Falice%2Fx")
    assert response.status_code == 200
    assert response.json() == {
        "workspace": {"id": "/Users/alice/x", "workspace_id": "/Users/alice/x", "running": 0, "desired": 3},
        "global": {"running": 0, "desired": 5},
    }


def test_an_unknown_workspace_reads_as_zeros_and_is_not_created(api_client: APIClient) -> None:
    response = api_client.get(f"{BASE}/workspace/%2Fnever%2Fseen")
    assert response.json()["workspace"] == {
        "id": "/never/seen",
        "workspace_id": "/never/seen",
        "running": 0,
        "desired": 0,
    }
    assert api_client.get(f"{BASE}/workspaces").json() == []


@pytest.mark.parametrize(
    "path",
    ["workspace/%2FUsers%2Fa", "workspace/%2FUsers%2Fa/desired", "workspace//Users/a", "workspace//Users/a/desired"],
)
def test_desired_is_set_by_every_spelling(api_client: APIClient, path: str) -> None:
    response = put(api_client, path, {"desired": 4})
    assert response.status_code == 200
    assert response.json()["workspace"] == {"id": "/Users/a", "workspace_id": "/Users/a", "running": 0, "desired": 4}
    assert Workspace.objects.get().desired == 4


@pytest.mark.parametrize(
    ("path", "workspace_id"),
    [
        ("workspace/%40acme%2Fwidgets/desired", "@acme/widgets"),
        ("workspace/stoked-projects/desired", "stoked-projects"),
        ("workspace/my%20folder", "my folder"),
        ("workspace/relative/path/desired", "relative/path"),
    ],
)
def test_a_package_or_folder_name_is_a_workspace_id_taken_as_given(
    api_client: APIClient, path: str, workspace_id: str
) -> None:
    """The VSCode extension names workspaces by package.json name or folder name, not by path."""
    response = put(api_client, path, {"desired": 2})
    assert response.status_code == 200
    expected = {"id": workspace_id, "workspace_id": workspace_id, "running": 0, "desired": 2}
    assert response.json()["workspace"] == expected
    assert api_client.get(f"{BASE}/workspaces").json() == [expected]


def test_an_error_body_carries_the_reason_under_message_too(api_client: APIClient) -> None:
    """NestJS-era clients show ``message``; without it they can only say "HTTP 400"."""
    response = put(api_client, "workspace/stoked-projects", {"desired": 99})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == body["detail"] == "desired: must be from 0 to 20, got 99."


def test_running_is_reported_for_orchestrators_outside_the_hub(api_client: APIClient) -> None:
    response = put(api_client, "workspace/%2FUsers%2Fa/running", {"running": 2})
    assert response.json() == {
        "workspace": {"id": "/Users/a", "workspace_id": "/Users/a", "running": 2, "desired": 0},
        "global": {"running": 2, "desired": 0},
    }


def test_global_and_list(api_client: APIClient) -> None:
    put(api_client, "workspace/%2Fb", {"desired": 2})
    put(api_client, "workspace/%2Fa", {"desired": 1})
    put(api_client, "workspace/%2Fa/running", {"running": 1})
    assert api_client.get(f"{BASE}/global").json() == {"running": 1, "desired": 3}
    assert api_client.get(f"{BASE}/workspaces").json() == [
        {"id": "/a", "workspace_id": "/a", "running": 1, "desired": 1},
        {"id": "/b", "workspace_id": "/b", "running": 0, "desired": 2},
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("workspace/" + "x" * 1025, {"desired": 1}, "workspaceId"),
        ("workspace/%2Fa%2F..%2Fb", {"desired": 1}, "workspaceId"),
        ("workspace/%2Fa", {"desired": 21}, "desired"),
        ("workspace/%2Fa", {"desired": -1}, "desired"),
        ("workspace/%2Fa", {"desired": "3"}, "desired"),
        ("workspace/%2Fa", {"desired": None}, "desired"),
        ("workspace/%2Fa", {}, "desired"),
        ("workspace/%2Fa", [1], "body"),
        ("workspace/%2Fa/running", {"running": "many"}, "running"),
        ("workspace/%2Fa/running", {"desired": 1}, "running"),
    ],
)
def test_bad_input_is_a_400_that_names_the_field_and_changes_nothing(
    api_client: APIClient, path: str, body: object, field: str
) -> None:
    put(api_client, "workspace/%2Fa", {"desired": 2})
    response = put(api_client, path, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
    assert list(Workspace.objects.values_list("path", "desired", "running")) == [("/a", 2, 0)]
    assert (Totals.objects.get().desired, Totals.objects.get().running) == (2, 0)


def test_malformed_json_is_a_400(api_client: APIClient) -> None:
    response = api_client.put(f"{BASE}/workspace/%2Fa", "{bad", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_get_on_an_action_path_is_405(api_client: APIClient) -> None:
    response = api_client.get(f"{BASE}/workspace/%2Fa/desired")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed", "message": "Method Not Allowed"}
