from __future__ import annotations

from typing import Any

import pytest

from projects import selectors, services
from projects.models import Node
from projects.serializers import GraphSerializer, NodeSerializer

pytestmark = pytest.mark.django_db


def chain(project, count):
    previous: list[Any] = []
    for index in range(count):
        node = services.node_create(project_id=project.pk, title=f"n{index}", parent_ids=previous[-2:])
        previous.append(node.pk)


@pytest.mark.parametrize("count", [3, 50])
def test_the_graph_is_read_in_a_fixed_number_of_queries(project, django_assert_num_queries, count):
    chain(project, count)

    with django_assert_num_queries(3):
        graph = GraphSerializer(selectors.project_graph(project.pk)).data

    assert len(graph["nodes"]) == count
    assert len(graph["edges"]) == 2 * count - 3
    assert graph["nodes"][-1]["parent_ids"] == [graph["nodes"][-3]["id"], graph["nodes"][-2]["id"]]


def test_node_metadata_always_has_the_contract_shape(project):
    node = Node.objects.create(
        project=project, title="legacy", metadata={"resources": [{"kind": "url", "title": "t"}], "x": 1}
    )

    assert NodeSerializer(node).data["metadata"] == {
        "resources": [{"kind": "url", "title": "t", "url": None, "notes": None}],
        "extra": {},
    }
    assert selectors.node_metadata(node.metadata) == NodeSerializer(node).data["metadata"]
    node.metadata = None
    node.parent_ids = []
    assert NodeSerializer(node).data["metadata"] == {"resources": [], "extra": {}}
    assert selectors.node_metadata(None) == {"resources": [], "extra": {}}


def test_iso_writes_utc_with_a_z():
    from datetime import datetime, timedelta, timezone

    assert selectors.iso(datetime(2025, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))) == "2025-03-01T14:00:00Z"
    assert selectors.iso(None) is None
