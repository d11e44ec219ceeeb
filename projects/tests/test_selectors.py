from __future__ import annotations

from typing import Any

import pytest

from projects import selectors, services
from projects.models import Node

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
        graph = selectors.graph(project.pk)

    assert len(graph["nodes"]) == count
    assert len(graph["edges"]) == 2 * count - 3


def test_node_metadata_always_has_the_contract_shape(project):
    node = Node.objects.create(
        project=project, title="legacy", metadata={"resources": [{"kind": "url", "title": "t"}], "x": 1}
    )

    assert selectors.node_data(node)["metadata"] == {
        "resources": [{"kind": "url", "title": "t", "url": None, "notes": None}],
        "extra": {},
    }
    node.metadata = None
    assert selectors.node_data(node, [])["metadata"] == {"resources": [], "extra": {}}


def test_iso_writes_utc_with_a_z():
    from datetime import datetime, timedelta, timezone

    assert selectors.iso(datetime(2025, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))) == "2025-03-01T14:00:00Z"
    assert selectors.iso(None) is None
