"""``FastReadSerializer`` answers exactly what DRF's own ``to_representation`` would, for every
output serializer of the apps, on rows made through the API (nulls, choices, JSON, timestamps,
ids of parents) and on rows with values of another type than the column's usual one."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from rest_framework import serializers
from rest_framework.test import APIClient

from agents.models import ExecutionLogEntry
from orchestra_site.api.serializers import FastReadSerializer
from projects.models import Node, Task
from projects.serializers import NodeSerializer
from tests.support.agent_runs import launch, make_template

pytestmark = pytest.mark.django_db


def every_output_serializer() -> list[type[FastReadSerializer]]:
    found: list[type[FastReadSerializer]] = []
    pending = list(FastReadSerializer.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def make_rows(client: APIClient) -> None:
    project = client.post("/projects", {"name": "Fast read", "description": None}, format="json").json()
    nodes = f"/projects/{project['id']}/nodes"
    first = client.post(nodes, {"title": "First", "agent_type": "claude", "prompt": "p"}, format="json").json()
    second = client.post(
        nodes,
        {"title": "Second", "parent_ids": [first["id"]], "metadata": {"resources": [{"kind": "url", "title": "t"}]}},
        format="json",
    ).json()
    client.post("/tasks", {"title": "Task", "node_id": second["id"], "priority": 3}, format="json")
    run = {"node_id": first["id"], "agent_type": "claude", "prompt": "go"}
    assert client.post(f"/projects/{project['id']}/runs", run, format="json").status_code == 201
    template = make_template(client, [("One", "custom", "1"), ("Two", "claude", "x")], [(0, 1)], icon="bolt")
    execution = launch(client, project, first, template)
    ExecutionLogEntry.objects.create(execution_id=execution["id"], seq=1, kind="output", data={"text": "hi"})
    dag_run = {"node_ids": [second["id"]], "template_id": template["id"], "max_retries": 0}
    assert client.post(f"/projects/{project['id']}/dag-runs", dag_run, format="json").status_code == 201
    # A value of another type than the column's usual one goes through DRF's field.
    Node.objects.filter(pk=first["id"]).update(position_x=3)
    Task.objects.update(priority=True)


def test_every_output_serializer_answers_what_drf_would(api_client: APIClient) -> None:
    make_rows(api_client)
    compared = 0
    for cls in every_output_serializer():
        if not hasattr(cls, "Meta"):
            continue  # a base class
        model: type[Model] = cls.Meta.model
        for instance in model._default_manager.all():
            serializer = cls()
            drf: dict[str, Any] = dict(serializers.ModelSerializer.to_representation(serializer, instance))
            assert serializer.to_representation(instance) == drf, cls.__name__
            assert list(serializer.to_representation(instance)) == list(drf), cls.__name__  # key order
            compared += 1
    assert compared >= 10


def test_a_field_that_reads_its_value_its_own_way_keeps_it(api_client: APIClient) -> None:
    # NodeMetadataSerializer answers a null column as the empty metadata, not as null.
    make_rows(api_client)
    node = Node.objects.first()
    assert node is not None
    node.metadata = None
    serializer = NodeSerializer()
    drf = dict(serializers.ModelSerializer.to_representation(serializer, node))
    assert serializer.to_representation(node) == drf
    assert drf["metadata"] == {"resources": [], "extra": {}}
