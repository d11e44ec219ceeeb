from __future__ import annotations

import json

import pytest

from projects import services
from projects.models import HookNode, Node, NodeEdge, Project

pytestmark = pytest.mark.django_db


def test_the_changelists_show_projects_nodes_and_tasks(admin_client, make_node, project):
    parent = make_node("parent")
    make_node("child", parent_ids=[parent.pk])
    services.task_create(title="a task", project_id=project.pk)

    projects = admin_client.get("/admin/projects/project/")
    nodes = admin_client.get("/admin/projects/node/")
    tasks = admin_client.get("/admin/projects/task/")

    assert project.workspace_path in projects.content.decode()
    assert nodes.status_code == 200 and "child" in nodes.content.decode()
    assert tasks.status_code == 200 and "a task" in tasks.content.decode()


def test_adding_a_project_in_the_admin_creates_its_workspace(admin_client, settings):
    response = admin_client.post("/admin/projects/project/add/", {"name": "From admin", "description": ""})

    assert response.status_code == 302
    project = Project.objects.get()
    assert project.workspace_path.endswith(f"project-{project.pk}")


def node_form(node, **changes):
    return {
        "project": node.project_id,
        "title": node.title,
        "description": "",
        "status": node.status,
        "agent_type": "",
        "prompt": "",
        "context": "",
        "metadata": json.dumps(node.metadata),
        "position_x": node.position_x,
        "position_y": node.position_y,
        **changes,
    }


def test_the_node_form_refuses_a_cycle(admin_client, make_node):
    a = make_node("a")
    b = make_node("b", parent_ids=[a.pk])

    response = admin_client.post(f"/admin/projects/node/{a.pk}/change/", node_form(a, parent_nodes=[b.pk]))

    assert response.status_code == 200
    assert f"would create a cycle: {a.pk} -&gt; {b.pk} -&gt; {a.pk}" in response.content.decode()
    assert not NodeEdge.objects.filter(child=a).exists()


def test_the_node_form_saves_parents_through_the_service(admin_client, make_node):
    a, b = make_node("a"), make_node("b")

    response = admin_client.post(f"/admin/projects/node/{b.pk}/change/", node_form(b, title="b2", parent_nodes=[a.pk]))

    assert response.status_code == 302
    b.refresh_from_db()
    assert b.title == "b2"
    assert list(b.parents.all()) == [a]
    assert Node.objects.count() == 2


def test_deliverables_and_hooks_are_saved_through_the_services(admin_client, make_node):
    node = make_node("Research")
    deliverable = services.deliverable_create(node=node, type="plan", name="plan.md", content="draft")

    listed = admin_client.get("/admin/projects/deliverable/")
    changed = admin_client.post(
        f"/admin/projects/deliverable/{deliverable.pk}/change/",
        {"status": "validated", "content": "## Plan", "validation_errors": "[]"},
    )
    added_hook = admin_client.post(
        "/admin/projects/hooknode/add/",
        {
            "node": node.pk,
            "name": "Gate",
            "trigger": "manual",
            "action": "gate",
            "required_deliverables": '["plan.md"]',
            "validation_rules": '{"plan.md": "##"}',
            "max_retries": 2,
        },
    )
    refused_rule = admin_client.post(
        f"/admin/projects/hooknode/{HookNode.objects.get().pk}/change/",
        {
            "name": "Gate",
            "trigger": "manual",
            "action": "gate",
            "required_deliverables": "[]",
            "validation_rules": '{"plan.md": "(unclosed"}',
            "max_retries": 2,
        },
    )

    assert listed.status_code == 200 and "plan.md" in listed.content.decode()
    assert changed.status_code == 302
    deliverable.refresh_from_db()
    assert (deliverable.status, deliverable.content) == ("validated", "## Plan")
    assert added_hook.status_code == 302
    node.refresh_from_db()
    assert node.node_type == "hook"
    assert refused_rule.status_code == 302  # back to the form with the service's message
    assert HookNode.objects.get().validation_rules == {"plan.md": "##"}
    assert admin_client.get("/admin/projects/hooknode/").status_code == 200
