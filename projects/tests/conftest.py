"""The projects app's small world: a project and a way to add nodes to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from projects import services
from projects.models import Node, Project


@pytest.fixture
def project(db: None) -> Project:
    return services.project_create(name="Demo", description="A demo project")


@pytest.fixture
def other_project(db: None) -> Project:
    return services.project_create(name="Other")


@pytest.fixture
def make_node(project: Project) -> Callable[..., Node]:
    def make(title: str = "Node", *, project_id: int | None = None, **fields: Any) -> Node:
        return services.node_create(project_id=project_id or project.pk, title=title, **fields)

    return make
