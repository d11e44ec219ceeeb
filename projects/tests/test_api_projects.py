from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.urls import reverse

from orchestration.models import Workspace
from projects import services
from projects.models import Node, NodeEdge, Project, Run, Task
from projects.tests.helpers import ISO

pytestmark = pytest.mark.django_db


def test_it_creates_a_project_with_its_default_workspace(api_client):
    response = api_client.post(reverse("project-list"), {"name": "Hub", "description": "d"}, format="json")

    assert response.status_code == 201
    project = Project.objects.get()
    workspace = str(settings.WORKSPACES_DIR.resolve() / f"project-{project.pk}")
    assert response.json() == {
        "id": project.pk,
        "name": "Hub",
        "description": "d",
        "workspace_path": workspace,
        "worktree_by_default": False,
        "created_at": ISO,
        "updated_at": ISO,
    }
    assert os.path.isdir(workspace)
    pinned = Workspace.objects.get(path=workspace)
    assert (pinned.pinned, pinned.desired) == (True, settings.DEFAULT_DESIRED)


def test_it_defaults_description_to_null_and_ignores_unknown_keys(api_client):
    response = api_client.post(reverse("project-list"), {"name": "P", "id": 99, "bogus": [1]}, format="json")

    assert response.status_code == 201
    assert response.json()["description"] is None
    assert Project.objects.get().pk != 99


def test_it_accepts_a_workspace_inside_the_allowed_roots(api_client, tmp_path):
    wanted = tmp_path / "repos" / ".." / "repos" / "mine"

    response = api_client.post(reverse("project-list"), {"name": "P", "workspace_path": str(wanted)}, format="json")

    assert response.status_code == 201
    assert response.json()["workspace_path"] == str((tmp_path / "repos" / "mine").resolve())
    assert (tmp_path / "repos" / "mine").is_dir()
    assert Workspace.objects.filter(path=response.json()["workspace_path"], pinned=True).exists()


@pytest.mark.parametrize("path", ["relative/dir", "/etc", "/", ""])
def test_it_refuses_a_workspace_outside_the_roots(api_client, path):
    response = api_client.post(reverse("project-list"), {"name": "P", "workspace_path": path}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("workspace_path: ")
    assert not Project.objects.exists()


def test_it_resolves_symlinks_before_checking_the_workspace(api_client, tmp_path):
    (tmp_path / "escape").symlink_to("/etc")

    response = api_client.post(
        reverse("project-list"), {"name": "P", "workspace_path": str(tmp_path / "escape" / "x")}, format="json"
    )

    assert response.status_code == 400
    assert "workspace_path" in response.json()["detail"] and "/etc/x" in response.json()["detail"]
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "name: This field is required."),
        ({"name": ""}, "name: This field may not be blank."),
        ({"name": None}, "name: This field may not be null."),
        ({"name": "x" * 256}, "name: Ensure this field has no more than 255 characters."),
        ({"name": 5}, "name: Must be a string."),
        ({"name": "P", "description": 1}, "description: Must be a string."),
    ],
)
def test_it_refuses_an_invalid_project_with_a_string_detail(api_client, body, detail):
    response = api_client.post(reverse("project-list"), body, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert not Project.objects.exists()


def test_it_accepts_a_255_character_name(api_client):
    response = api_client.post(reverse("project-list"), {"name": "x" * 255}, format="json")

    assert response.status_code == 201
    assert Project.objects.get().name == "x" * 255


def test_it_lists_projects_newest_first(api_client):
    first = services.project_create(name="first")
    second = services.project_create(name="second")

    response = api_client.get(reverse("project-list"))

    assert response.status_code == 200
    assert [project["id"] for project in response.json()] == [second.pk, first.pk]


def test_it_gets_a_project(api_client, project):
    response = api_client.get(reverse("project-detail", args=[project.pk]))

    assert response.status_code == 200
    assert response.json() == {
        "id": project.pk,
        "name": "Demo",
        "description": "A demo project",
        "workspace_path": project.workspace_path,
        "worktree_by_default": False,
        "created_at": ISO,
        "updated_at": ISO,
    }


@pytest.mark.parametrize("path", ["/projects/999", "/projects/abc", "/projects/-1", "/projects/" + "9" * 30])
def test_it_answers_json_404_for_a_missing_or_malformed_project(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 404
    assert response.json()["detail"] in ("Project not found", "Not Found")


def test_it_patches_only_the_keys_sent(api_client, project):
    response = api_client.patch(
        reverse("project-detail", args=[project.pk]), {"description": None, "created_at": "x"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Demo"
    assert response.json()["description"] is None
    project.refresh_from_db()
    assert (project.name, project.description) == ("Demo", None)


def test_it_refuses_a_null_name_on_patch(api_client, project):
    response = api_client.patch(reverse("project-detail", args=[project.pk]), {"name": None}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == "name: This field may not be null."
    project.refresh_from_db()
    assert project.name == "Demo"


def test_it_answers_404_when_patching_a_missing_project(api_client):
    response = api_client.patch("/projects/424242", {"name": "x"}, format="json")

    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )


def test_deleting_a_project_cascades_to_its_nodes_edges_tasks_and_runs(api_client, project, other_project):
    parent = services.node_create(project_id=project.pk, title="a")
    child = services.node_create(project_id=project.pk, title="b", parent_ids=[parent.pk])
    services.task_create(title="of project", project_id=project.pk)
    services.task_create(title="of node", node_id=child.pk)
    services.run_create(project_id=project.pk, node_id=child.pk, agent_type="claude", prompt="p")
    kept_node = services.node_create(project_id=other_project.pk, title="kept")
    kept_task = services.task_create(title="kept", project_id=other_project.pk)
    loose_task = services.task_create(title="no project")

    response = api_client.delete(reverse("project-detail", args=[project.pk]))

    assert response.status_code == 204
    assert response.content == b""
    assert list(Project.objects.all()) == [other_project]
    assert list(Node.objects.all()) == [kept_node]
    assert not NodeEdge.objects.exists()
    assert set(Task.objects.all()) == {kept_task, loose_task}
    assert not Run.objects.exists()


def test_deleting_a_missing_project_answers_404(api_client):
    response = api_client.delete("/projects/123")

    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )


def test_patch_moves_the_workspace_inside_the_roots_only(api_client, project, tmp_path):
    url = reverse("project-detail", args=[project.pk])

    moved = api_client.patch(url, {"workspace_path": str(tmp_path / "moved")}, format="json")
    refused = api_client.patch(url, {"workspace_path": "/usr/lib"}, format="json")

    assert (moved.status_code, moved.json()["workspace_path"]) == (200, str((tmp_path / "moved").resolve()))
    assert (tmp_path / "moved").is_dir()
    assert Workspace.objects.filter(path=str((tmp_path / "moved").resolve()), pinned=True).exists()
    assert refused.status_code == 400 and refused.json()["detail"].startswith("workspace_path: ")
    project.refresh_from_db()
    assert project.workspace_path == str((tmp_path / "moved").resolve())


def test_the_workspace_folder_is_recreated_on_demand(project):
    os.rmdir(project.workspace_path)

    assert project.workspace_dir().is_dir()


def test_a_deleted_projects_workspace_is_left_to_prune_unless_another_project_uses_it(api_client, tmp_path):
    shared = tmp_path / "shared"
    first = api_client.post("/projects", {"name": "a", "workspace_path": str(shared)}, format="json").json()
    # Two projects on one folder are refused now; a row written before that rule may still share it.
    second = {"id": Project.objects.create(name="b", workspace_path=str(shared)).pk}
    assert Workspace.objects.get(path=str(shared)).pinned

    api_client.delete(f"/projects/{first['id']}")
    assert Workspace.objects.get(path=str(shared)).pinned  # still b's workspace
    api_client.delete(f"/projects/{second['id']}")
    assert not Workspace.objects.get(path=str(shared)).pinned


@pytest.mark.parametrize("relation", ["the same folder", "a link to it", "a folder inside it", "a folder holding it"])
def test_nested_or_identical_workspaces_are_refused_both_ways(api_client, tmp_path, relation):
    taken = tmp_path / "repos" / "a"
    first = api_client.post("/projects", {"name": "First", "workspace_path": str(taken)}, format="json")
    assert first.status_code == 201
    (tmp_path / "link").symlink_to(taken)
    path = {
        "the same folder": taken,
        "a link to it": tmp_path / "link",
        "a folder inside it": taken / "sub",
        "a folder holding it": tmp_path / "repos",
    }[relation]

    created = api_client.post("/projects", {"name": "Second", "workspace_path": str(path)}, format="json")
    other = api_client.post("/projects", {"name": "Other", "workspace_path": str(tmp_path / "b")}, format="json").json()
    moved = api_client.patch(f"/projects/{other['id']}", {"workspace_path": str(path)}, format="json")

    for response in (created, moved):
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert detail.startswith(f"workspace_path: {path.resolve()} ")
        assert str(taken) in detail and "another project's workspace" in detail
    assert set(Project.objects.values_list("name", "workspace_path")) == {
        ("First", str(taken)),
        ("Other", str(tmp_path / "b")),
    }


def test_a_project_may_move_within_or_around_its_own_workspace(api_client, tmp_path):
    project = api_client.post("/projects", {"name": "P", "workspace_path": str(tmp_path / "a")}, format="json").json()
    for path in (tmp_path / "a" / "sub", tmp_path / "a", tmp_path / "a"):
        response = api_client.patch(f"/projects/{project['id']}", {"workspace_path": str(path)}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["workspace_path"] == str(path)
