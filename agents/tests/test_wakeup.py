"""Launch and cancel wake this process's runner once they commit, never before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from agents import wakeup
from agents.services import executions, launch, templates
from projects import services as project_services
from projects.models import Node, Project


@pytest.fixture
def asleep() -> Iterator[None]:
    wakeup.work_arrived.clear()
    yield
    wakeup.work_arrived.clear()


@pytest.fixture
def project(db: None) -> Project:
    return project_services.project_create(name="Wake-up")


@pytest.fixture
def node(project: Project) -> Node:
    return project_services.node_create(project_id=project.pk, title="Task", description=None, context=None)


def test_wait_for_work_returns_when_woken_and_clears_the_signal(asleep: None) -> None:
    assert wakeup.wait_for_work(0.01) is False
    wakeup.wake_runners()
    assert wakeup.wait_for_work(5) is True
    assert not wakeup.work_arrived.is_set()


@pytest.mark.django_db(transaction=True)
def test_a_launch_wakes_the_runner_on_commit(asleep: None, project: Project, node: Node) -> None:
    template = templates.template_create(
        name="One", steps=[{"name": "a", "agent_type": "claude", "prompt_template": "x"}]
    )
    with transaction.atomic():
        launch.launch(project_id=project.pk, node_id=node.pk, template_id=template.pk)
        assert not wakeup.work_arrived.is_set()
    assert wakeup.work_arrived.is_set()


@pytest.mark.django_db(transaction=True)
def test_a_cancel_wakes_the_runner_on_commit_and_a_rolled_back_one_does_not(
    asleep: None, project: Project, node: Node
) -> None:
    execution = executions.execution_create(project_id=project.pk, node_id=node.pk)
    with pytest.raises(RuntimeError), transaction.atomic():
        executions.execution_cancel(project_id=project.pk, execution_id=execution.pk)
        raise RuntimeError("roll back")
    assert not wakeup.work_arrived.is_set()
    with transaction.atomic():
        executions.execution_cancel(project_id=project.pk, execution_id=execution.pk)
        assert not wakeup.work_arrived.is_set()
    assert wakeup.work_arrived.is_set()
