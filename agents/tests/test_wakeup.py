"""Launch and cancel wake this process's runner once they commit, never before; a waiter wakes when
woken or after its timeout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from agents import wakeup
from agents.services import executions, launch, templates
from orchestra_site import wakeups
from projects import services as project_services
from projects.models import Node, Project


@pytest.fixture
def asleep() -> Iterator[wakeups.Waiter]:
    """A waiter for the runners' work, standing in for this process's runner."""
    with wakeups.listening(wakeups.WORK) as waiter:
        yield waiter


@pytest.fixture
def project(db: None) -> Project:
    return project_services.project_create(name="Wake-up")


@pytest.fixture
def node(project: Project) -> Node:
    return project_services.node_create(project_id=project.pk, title="Task", description=None, context=None)


def test_a_waiter_returns_when_woken_and_forgets_the_wake_up(asleep: wakeups.Waiter) -> None:
    assert asleep.wait(0.01) == set()
    wakeup.wake_runners()
    assert wakeups.WORK in asleep.wait(5)
    assert asleep.woken == set()


@pytest.mark.django_db(transaction=True)
def test_a_launch_wakes_the_runner_on_commit(asleep: wakeups.Waiter, project: Project, node: Node) -> None:
    template = templates.template_create(
        name="One", steps=[{"name": "a", "agent_type": "claude", "prompt_template": "x"}]
    )
    with transaction.atomic():
        launch.launch(project_id=project.pk, node_id=node.pk, template_id=template.pk)
        assert not asleep.woken
    assert wakeups.WORK in asleep.woken


@pytest.mark.django_db(transaction=True)
def test_a_cancel_wakes_the_runner_on_commit_and_a_rolled_back_one_does_not(
    asleep: wakeups.Waiter, project: Project, node: Node
) -> None:
    execution = executions.execution_create(project_id=project.pk, node_id=node.pk)
    with pytest.raises(RuntimeError), transaction.atomic():
        executions.execution_cancel(project_id=project.pk, execution_id=execution.pk)
        raise RuntimeError("roll back")
    assert not asleep.woken
    with transaction.atomic():
        executions.execution_cancel(project_id=project.pk, execution_id=execution.pk)
        assert not asleep.woken
    assert wakeups.WORK in asleep.woken
