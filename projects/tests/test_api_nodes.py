from __future__ import annotations

import pytest
from django.urls import reverse

from projects import services
from projects.models import Node, NodeEdge, Run, Task
from projects.tests.helpers import EMPTY_METADATA, node_body

pytestmark = pytest.mark.django_db

CREATE_DIALOG_BODY = {
    "title": "Build the API",
    "description": "Write the views",
    "prompt": "Write the views",
    "status": "pending",
    "agent_type": "claude",
    "metadata": {
        "resources": [{"kind": "url", "title": "Docs", "url": "https://example.com"}],
        "deliverables": "A merged PR",
        "extra": {},
    },
    "position_x": 123.5,
    "position_y": 42,
}


def nodes_url(project):
    return reverse("node-list", args=[project.pk])


def node_url(node):
    return reverse("node-detail", args=[node.project_id, node.pk])


def parents_of(node):
    return sorted(NodeEdge.objects.filter(child=node).values_list("parent_id", flat=True))


def test_it_creates_a_node_as_the_create_dialog_sends_it(api_client, project):
    response = api_client.post(nodes_url(project), CREATE_DIALOG_BODY, format="json")

    assert response.status_code == 201
    node = Node.objects.get()
    assert response.json() == node_body(
        id=node.pk,
        project_id=project.pk,
        title="Build the API",
        description="Write the views",
        prompt="Write the views",
        agent_type="claude",
        metadata={
            "resources": [{"kind": "url", "title": "Docs", "url": "https://example.com", "notes": None}],
            "extra": {},
            "deliverables": "A merged PR",
        },
        position_x=123.5,
        position_y=42.0,
    )
    assert node.metadata["deliverables"] == "A merged PR"


def test_it_creates_a_node_with_defaults_from_a_title_only(api_client, project):
    response = api_client.post(nodes_url(project), {"title": "T"}, format="json")

    assert response.status_code == 201
    assert response.json() == node_body(id=Node.objects.get().pk, project_id=project.pk, title="T")


def test_it_creates_a_node_with_parents(api_client, make_node):
    a, b = make_node("a"), make_node("b")

    response = api_client.post(nodes_url(a.project), {"title": "c", "parent_ids": [b.pk, a.pk]}, format="json")

    assert response.status_code == 201
    assert response.json()["parent_ids"] == [a.pk, b.pk]
    assert parents_of(Node.objects.get(title="c")) == [a.pk, b.pk]


@pytest.mark.parametrize("kind", ["foreign", "missing", "duplicate"])
def test_it_refuses_parents_that_are_not_nodes_of_this_project_once_each(api_client, project, other_project, kind):
    own = services.node_create(project_id=project.pk, title="own")
    foreign = services.node_create(project_id=other_project.pk, title="foreign")
    parent_ids = {"foreign": [own.pk, foreign.pk], "missing": [own.pk, 9999], "duplicate": [own.pk, own.pk]}[kind]

    response = api_client.post(nodes_url(project), {"title": "c", "parent_ids": parent_ids}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "One or more parent nodes not found", "message": "One or more parent nodes not found"},
    )
    assert Node.objects.count() == 2
    assert not NodeEdge.objects.exists()


def test_it_answers_404_when_creating_a_node_in_a_missing_project(api_client):
    response = api_client.post("/projects/777/nodes", {"title": "x"}, format="json")

    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )
    assert not Node.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "title: This field is required."),
        ({"title": ""}, "title: This field may not be blank."),
        ({"title": "x" * 256}, "title: Ensure this field has no more than 255 characters."),
        ({"title": "x", "status": "done"}, 'status: "done" is not a valid choice.'),
        ({"title": "x", "agent_type": "gpt"}, 'agent_type: "gpt" is not a valid choice.'),
        ({"title": "x", "position_x": "1"}, "position_x: A valid number is required."),
        (
            {"title": "x", "metadata": {"resources": [{"kind": "url"}]}},
            "metadata.resources.0.title: This field is required.",
        ),
        (
            {"title": "x", "metadata": {"resources": {}}},
            'metadata.resources: Expected a list of items but got type "dict".',
        ),
        (
            {"title": "x", "metadata": {"extra": []}},
            'metadata.extra: Expected a dictionary of items but got type "list".',
        ),
        ({"title": "x", "parent_ids": ["a"]}, "parent_ids.0: A valid integer is required."),
    ],
)
def test_it_refuses_an_invalid_node_with_a_string_detail(api_client, project, body, detail):
    response = api_client.post(nodes_url(project), body, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert not Node.objects.exists()


def test_get_on_the_node_collection_lists_the_nodes_with_their_parents(api_client, project):
    first = api_client.post(nodes_url(project), {"title": "first"}, format="json").json()
    second = api_client.post(nodes_url(project), {"title": "second", "parent_ids": [first["id"]]}, format="json").json()

    response = api_client.get(nodes_url(project))

    assert (response.status_code, response.json()) == (200, [first, second])
    assert response.json()[1]["parent_ids"] == [first["id"]]
    missing = api_client.get("/projects/999/nodes")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Project not found")


def test_it_gets_one_node_only_under_its_own_project(api_client, make_node, other_project):
    node = make_node("n")

    assert api_client.get(node_url(node)).json() == node_body(id=node.pk, project_id=node.project_id, title="n")
    wrong = api_client.get(reverse("node-detail", args=[other_project.pk, node.pk]))
    assert (wrong.status_code, wrong.json()) == (404, {"detail": "Node not found", "message": "Node not found"})


def test_patch_changes_only_the_keys_sent_and_ignores_read_only_keys(api_client, make_node):
    node = make_node("n", description="keep", prompt="p")
    body = api_client.get(node_url(node)).json()
    body.update({"title": "renamed", "id": 999, "project_id": 999, "created_at": "2000-01-01T00:00:00"})

    response = api_client.patch(node_url(node), body, format="json")

    assert response.status_code == 200
    assert response.json() == node_body(
        id=node.pk, project_id=node.project_id, title="renamed", description="keep", prompt="p"
    )
    assert Node.objects.filter(pk=node.pk, project_id=node.project_id, title="renamed", description="keep").exists()
    assert not Node.objects.filter(pk=999).exists()


def test_patch_with_null_clears_a_nullable_field(api_client, make_node):
    node = make_node("n", description="d", agent_type="codex")

    response = api_client.patch(node_url(node), {"description": None, "agent_type": None}, format="json")

    assert response.status_code == 200
    node.refresh_from_db()
    assert (node.description, node.agent_type) == (None, None)


@pytest.mark.parametrize("field", ["title", "status", "position_x"])
def test_patch_with_null_for_a_required_column_is_400(api_client, make_node, field):
    node = make_node("n")

    response = api_client.patch(node_url(node), {field: None}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == f"{field}: This field may not be null."
    node.refresh_from_db()
    assert (node.title, node.status, node.position_x) == ("n", "pending", 0.0)


def test_metadata_is_replaced_not_merged_and_null_keeps_it(api_client, make_node):
    node = make_node("n", metadata={"resources": [], "extra": {"a": 1}, "deliverables": "old"})

    replaced = api_client.patch(
        node_url(node), {"metadata": {"resources": [{"kind": "note", "title": "t", "notes": "n"}]}}, format="json"
    )
    kept = api_client.patch(node_url(node), {"metadata": None}, format="json")

    expected = {"resources": [{"kind": "note", "title": "t", "url": None, "notes": "n"}], "extra": {}}
    assert replaced.json()["metadata"] == expected
    assert kept.json()["metadata"] == expected


def test_patch_validates_new_metadata_as_a_whole_object_with_its_defaults(api_client, make_node):
    node = make_node("n", metadata={"resources": [{"kind": "k", "title": "t"}], "extra": {}})

    incomplete = api_client.patch(node_url(node), {"metadata": {"resources": [{"kind": "url"}]}}, format="json")
    only_extra = api_client.patch(node_url(node), {"metadata": {"extra": {"a": 1}}}, format="json")

    assert (incomplete.status_code, incomplete.json()["detail"]) == (
        400,
        "metadata.resources.0.title: This field is required.",
    )
    assert only_extra.status_code == 200
    assert only_extra.json()["metadata"] == {"resources": [], "extra": {"a": 1}}
    node.refresh_from_db()
    assert node.metadata == {"resources": [], "extra": {"a": 1}}


def test_deliverables_round_trip(api_client, make_node):
    node = make_node("n")

    api_client.patch(
        node_url(node), {"metadata": {"resources": [], "extra": {}, "deliverables": "Docs"}}, format="json"
    )

    graph = api_client.get(reverse("project-graph", args=[node.project_id])).json()
    assert graph["nodes"][0]["metadata"] == {"resources": [], "extra": {}, "deliverables": "Docs"}


def test_patch_replaces_the_parent_set_and_empty_list_removes_all(api_client, make_node):
    a, b, c = make_node("a"), make_node("b"), make_node("c")
    child = make_node("child", parent_ids=[a.pk, b.pk])

    replaced = api_client.patch(node_url(child), {"parent_ids": [b.pk, c.pk]}, format="json")
    assert replaced.json()["parent_ids"] == [b.pk, c.pk]
    assert parents_of(child) == [b.pk, c.pk]

    unchanged = api_client.patch(node_url(child), {"parent_ids": None, "title": "t"}, format="json")
    assert unchanged.json()["parent_ids"] == [b.pk, c.pk]

    cleared = api_client.patch(node_url(child), {"parent_ids": []}, format="json")
    assert cleared.json()["parent_ids"] == []
    assert parents_of(child) == []


def test_it_refuses_a_node_that_is_its_own_parent(api_client, make_node):
    node = make_node("n")

    response = api_client.patch(node_url(node), {"parent_ids": [node.pk], "title": "x"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"parent_ids: would create a cycle: {node.pk} -> {node.pk}",
        "message": f"parent_ids: would create a cycle: {node.pk} -> {node.pk}",
    }
    node.refresh_from_db()
    assert (node.title, parents_of(node)) == ("n", [])


def test_it_refuses_a_cycle_and_names_the_nodes_on_it(api_client, make_node):
    a = make_node("a")
    b = make_node("b", parent_ids=[a.pk])
    c = make_node("c", parent_ids=[b.pk])
    other = make_node("other")

    response = api_client.patch(node_url(a), {"parent_ids": [other.pk, c.pk]}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"parent_ids: would create a cycle: {a.pk} -> {b.pk} -> {c.pk} -> {a.pk}",
        "message": f"parent_ids: would create a cycle: {a.pk} -> {b.pk} -> {c.pk} -> {a.pk}",
    }
    assert parents_of(a) == []
    assert parents_of(b) == [a.pk] and parents_of(c) == [b.pk]


def test_it_refuses_foreign_parents_on_patch(api_client, make_node, other_project):
    node = make_node("n")
    foreign = services.node_create(project_id=other_project.pk, title="f")

    response = api_client.patch(node_url(node), {"parent_ids": [foreign.pk]}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "One or more parent nodes not found", "message": "One or more parent nodes not found"},
    )
    assert parents_of(node) == []


def test_patch_answers_404_for_a_missing_node_or_project(api_client, make_node):
    node = make_node("n")

    missing_node = api_client.patch(reverse("node-detail", args=[node.project_id, 9999]), {"title": "x"}, format="json")
    missing_project = api_client.patch(reverse("node-detail", args=[9999, node.pk]), {"title": "x"}, format="json")

    assert (missing_node.status_code, missing_node.json()) == (
        404,
        {"detail": "Node not found", "message": "Node not found"},
    )
    assert (missing_project.status_code, missing_project.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )


def test_deleting_a_node_removes_its_edges_runs_and_tasks(api_client, make_node):
    parent = make_node("parent")
    node = make_node("node", parent_ids=[parent.pk])
    child = make_node("child", parent_ids=[node.pk, parent.pk])
    services.run_create(project_id=node.project_id, node_id=node.pk, agent_type="claude", prompt="p")
    services.task_create(title="linked", node_id=node.pk, project_id=node.project_id)
    kept_task = services.task_create(title="other", node_id=child.pk)

    response = api_client.delete(node_url(node))

    assert (response.status_code, response.content) == (204, b"")
    assert set(Node.objects.all()) == {parent, child}
    assert parents_of(child) == [parent.pk]
    assert not Run.objects.exists()
    assert list(Task.objects.all()) == [kept_task]
    assert api_client.get(node_url(child)).json()["parent_ids"] == [parent.pk]


def test_deleting_a_missing_node_is_404(api_client, project):
    response = api_client.delete(reverse("node-detail", args=[project.pk, 12345]))

    assert (response.status_code, response.json()) == (404, {"detail": "Node not found", "message": "Node not found"})


def test_graph_lists_nodes_by_id_with_one_edge_per_parent(api_client, make_node):
    a = make_node("a")
    b = make_node("b", parent_ids=[a.pk])
    c = make_node("c", parent_ids=[b.pk, a.pk])

    response = api_client.get(reverse("project-graph", args=[a.project_id]))

    assert response.status_code == 200
    assert response.json() == {
        "nodes": [
            node_body(id=a.pk, project_id=a.project_id, title="a"),
            node_body(id=b.pk, project_id=a.project_id, title="b", parent_ids=[a.pk]),
            node_body(id=c.pk, project_id=a.project_id, title="c", parent_ids=[a.pk, b.pk]),
        ],
        "edges": [
            {"source_id": a.pk, "target_id": b.pk},
            {"source_id": a.pk, "target_id": c.pk},
            {"source_id": b.pk, "target_id": c.pk},
        ],
    }


def test_graph_of_an_empty_or_missing_project(api_client, project):
    assert api_client.get(reverse("project-graph", args=[project.pk])).json() == {"nodes": [], "edges": []}
    missing = api_client.get("/projects/999/graph")
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )


def test_metadata_defaults_when_the_client_sends_null(api_client, project):
    response = api_client.post(nodes_url(project), {"title": "t", "metadata": None, "parent_ids": None}, format="json")

    assert response.status_code == 201
    assert (response.json()["metadata"], response.json()["parent_ids"]) == (EMPTY_METADATA, [])


def test_every_patch_stamps_updated_at_even_one_that_only_relinks_parents(api_client, make_node):
    a = make_node("a")
    child = make_node("child")
    long_ago = "2000-01-01T00:00:00Z"
    Node.objects.filter(pk=child.pk).update(updated_at=long_ago)

    same = api_client.patch(node_url(child), {"title": "child"}, format="json")
    assert same.status_code == 200
    assert same.json()["updated_at"] > long_ago  # a PATCH is a write, even with the same values

    relinked = api_client.patch(node_url(child), {"parent_ids": [a.pk]}, format="json")
    assert relinked.json()["parent_ids"] == [a.pk]
    assert relinked.json()["updated_at"] > same.json()["updated_at"]

    Node.objects.filter(pk=child.pk).update(updated_at=long_ago)
    renamed = api_client.patch(node_url(child), {"title": "renamed"}, format="json")
    assert renamed.json()["title"] == "renamed"
    assert renamed.json()["updated_at"] > same.json()["updated_at"]


def test_a_missing_project_is_404_even_when_the_parents_are_wrong_too(api_client, project):
    own = services.node_create(project_id=project.pk, title="own")

    for parent_ids in ([own.pk], [9999], [own.pk, own.pk]):
        response = api_client.post("/projects/777/nodes", {"title": "x", "parent_ids": parent_ids}, format="json")
        assert (response.status_code, response.json()["detail"]) == (404, "Project not found")
    assert Node.objects.count() == 1
