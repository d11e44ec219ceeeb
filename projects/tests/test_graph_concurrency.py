"""Node creations in one project on PostgreSQL: side by side with each other, never beside an edit
of the graph's shape. The SQLite pass skips these (there every write transaction runs alone)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from django.db import connections, transaction

from orchestra_site.api.exceptions import InvalidInput
from projects.models import Node, NodeEdge
from projects.services import graph
from tests.support.fixtures import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project() -> Iterator[int]:
    yield graph.project_create(name="race").pk


def hold_open(work: Callable[[], object], inside: threading.Event, release: threading.Event) -> None:
    """``work`` in a transaction of another connection that stays open until ``release``."""
    try:
        with transaction.atomic():
            work()
            inside.set()
            assert release.wait(10)
    finally:
        connections.close_all()


def in_thread(pool: ThreadPoolExecutor, work: Callable[[], object]) -> Future:
    def run() -> object:
        try:
            return work()
        finally:
            connections.close_all()

    return pool.submit(run)


def test_a_creation_does_not_wait_for_another_creation_in_the_same_project(project):
    parent = graph.node_create(project_id=project, title="parent")
    inside, release = threading.Event(), threading.Event()
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(
            hold_open,
            lambda: graph.node_create(project_id=project, title="first", parent_ids=[parent.pk]),
            inside,
            release,
        )
        assert inside.wait(10)
        second = in_thread(pool, lambda: graph.node_create(project_id=project, title="second", parent_ids=[parent.pk]))
        try:
            created = second.result(timeout=3)  # queued behind the open creation, this would time out
        finally:
            release.set()
            holder.result(10)
    assert created.title == "second"
    assert set(Node.objects.filter(project_id=project).values_list("title", flat=True)) == {"parent", "first", "second"}


def test_a_creation_waits_for_a_deletion_of_its_parent_and_is_refused_after_it(project):
    parent = graph.node_create(project_id=project, title="parent")
    inside, release = threading.Event(), threading.Event()
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(
            hold_open, lambda: graph.node_delete(project_id=project, node_id=parent.pk), inside, release
        )
        assert inside.wait(10)
        child = in_thread(pool, lambda: graph.node_create(project_id=project, title="child", parent_ids=[parent.pk]))
        with pytest.raises(TimeoutError):
            child.result(timeout=0.5)  # waits for the deletion: it must not count a parent being deleted
        release.set()
        holder.result(10)
        with pytest.raises(InvalidInput):  # 400, not the foreign key's IntegrityError (a 500)
            child.result(10)
    assert not Node.objects.filter(project_id=project).exists()
    assert not NodeEdge.objects.exists()
