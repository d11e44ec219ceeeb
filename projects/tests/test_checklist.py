"""Contract, rows 1-17, call by call, with the bodies the desktop app really sends."""

from __future__ import annotations

import json

import pytest

from projects import planning
from projects.models import Node, NodeEdge, Project, Run, Task
from projects.tests.helpers import ISO

pytestmark = pytest.mark.django_db

# The client sends Content-Type: application/json on every request, GET and DELETE included.
JSON = {"content_type": "application/json"}


def call(client, method, path, body=None):
    data = json.dumps(body) if body is not None else ""
    response = client.generic(method, path, data, **JSON)
    return response.status_code, (response.json() if response.status_code != 204 else response.content)


def test_rows_1_to_17_as_the_desktop_app_calls_them(api_client, monkeypatch):
    c = api_client
    # 1 checkHealth
    status, health = call(c, "GET", "/health")
    assert status == 200 and health["version"] == "2.0.0"

    # 3 createProject, 2 listProjects, 4 getProject
    status, project = call(c, "POST", "/projects", {"name": "Desktop", "description": "From the app"})
    assert status == 201
    pid = project["id"]
    assert call(c, "GET", "/projects") == (200, [project])
    assert call(c, "GET", f"/projects/{pid}") == (200, project)

    # 7 createNode: the create dialog (Instructions in both description and prompt, random position)
    dialog = {
        "title": "Research",
        "description": "Find prior art",
        "prompt": "Find prior art",
        "status": "pending",
        "agent_type": "claude",
        "metadata": {"resources": [], "deliverables": "A summary", "extra": {}},
        "position_x": 311.72,
        "position_y": 87.4,
    }
    status, research = call(c, "POST", f"/projects/{pid}/nodes", dialog)
    assert status == 201
    assert research["metadata"] == {"resources": [], "extra": {}, "deliverables": "A summary"}
    status, build = call(
        c, "POST", f"/projects/{pid}/nodes", {"title": "Build", "status": "pending", "position_x": 1, "position_y": 2}
    )
    assert status == 201

    # 8 updateNode: the edit dialog (plus context), the resource editor, a drag, applying a plan
    status, edited = call(c, "PATCH", f"/projects/{pid}/nodes/{research['id']}", {**dialog, "context": "Background"})
    assert (status, edited["context"]) == (200, "Background")
    resources = {"resources": [{"kind": "url", "title": "Paper", "url": "https://arxiv.org/x"}], "extra": {}}
    status, edited = call(c, "PATCH", f"/projects/{pid}/nodes/{research['id']}", {"metadata": resources})
    assert edited["metadata"] == {
        "resources": [{"kind": "url", "title": "Paper", "url": "https://arxiv.org/x", "notes": None}],
        "extra": {},
    }
    status, linked = call(c, "PATCH", f"/projects/{pid}/nodes/{build['id']}", {"parent_ids": [research["id"]]})
    assert (status, linked["parent_ids"]) == (200, [research["id"]])
    # the detail panel PATCHes back the whole node it holds
    status, whole = call(c, "PATCH", f"/projects/{pid}/nodes/{build['id']}", {**linked, "title": "Build it"})
    assert (status, whole["title"], whole["parent_ids"]) == (200, "Build it", [research["id"]])

    # 6 getGraph
    status, graph = call(c, "GET", f"/projects/{pid}/graph")
    assert status == 200
    assert [node["id"] for node in graph["nodes"]] == [research["id"], build["id"]]
    assert graph["edges"] == [{"source_id": research["id"], "target_id": build["id"]}]

    # 11 createTask, 10 listTasks, 12 updateTask (the toggle), 13 deleteTask
    status, task = call(
        c, "POST", "/tasks", {"title": "Review", "priority": 2, "project_id": pid, "due_date": "2025-06-01"}
    )
    assert status == 201 and task["due_date"] == "2025-06-01T00:00:00Z"
    assert call(c, "GET", "/tasks") == (200, [task])
    assert call(c, "GET", f"/tasks?project_id={pid}&completed=false") == (200, [task])
    status, toggled = call(c, "PATCH", f"/tasks/{task['id']}", {"completed": True})
    assert (status, toggled["completed"]) == (200, True)
    assert call(c, "DELETE", f"/tasks/{task['id']}") == (204, b"")

    # 15 createRun ("Launch agent"), 14 listRuns, 16 updateRun
    run_body = {"node_id": research["id"], "agent_type": "claude", "prompt": "Background\n\nFind prior art"}
    status, run = call(c, "POST", f"/projects/{pid}/runs", run_body)
    assert status == 201
    assert run == {
        **run_body,
        "id": run["id"],
        "project_id": pid,
        "status": "queued",
        "output": None,
        "error": None,
        "metadata": {},
        "started_at": None,
        "finished_at": None,
        "created_at": ISO,
        "updated_at": ISO,
    }
    assert call(c, "GET", f"/projects/{pid}/runs?node_id={research['id']}") == (200, [run])
    status, running = call(c, "PATCH", f"/projects/{pid}/runs/{run['id']}", {**run, "status": "running"})
    assert (status, running["status"], running["started_at"]) == (200, "running", ISO)

    # 17 generatePlan: 200, nothing stored; the client then POSTs the drafts and PATCHes parents
    answer = {"nodes": [{"title": "A"}, {"title": "B"}], "edges": [{"source_index": 0, "target_index": 1}]}
    monkeypatch.setattr(planning, "run_planner", lambda prompt, resources: json.dumps(answer))
    nodes_before = Node.objects.count()
    status, plan = call(c, "POST", f"/projects/{pid}/plan", {"prompt": "Ship v2", "resources": None})
    assert status == 200 and [draft["title"] for draft in plan["nodes"]] == ["A", "B"]
    assert Node.objects.count() == nodes_before
    created = [call(c, "POST", f"/projects/{pid}/nodes", draft)[1] for draft in plan["nodes"]]
    status, target = call(c, "PATCH", f"/projects/{pid}/nodes/{created[1]['id']}", {"parent_ids": [created[0]["id"]]})
    assert (status, target["parent_ids"]) == (200, [created[0]["id"]])

    # 9 deleteNode
    assert call(c, "DELETE", f"/projects/{pid}/nodes/{research['id']}") == (204, b"")
    assert call(c, "GET", f"/projects/{pid}/nodes/{build['id']}")[1]["parent_ids"] == []
    assert not Run.objects.exists()

    # 5 deleteProject
    assert call(c, "DELETE", f"/projects/{pid}") == (204, b"")
    assert not Project.objects.exists() and not Node.objects.exists() and not NodeEdge.objects.exists()
    assert not Task.objects.exists()
