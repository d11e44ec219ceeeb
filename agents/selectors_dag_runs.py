"""Reads of DAG runs for the API and the events: the whole run, nodes and executions included."""

from __future__ import annotations

from collections import defaultdict
from typing import TypedDict

from agents.models import DagRun, DagRunNode, Execution
from agents.selectors import project_require, valid_id
from orchestra_site.api.exceptions import NotFound
from projects.selectors import iso


class DagRunNodeData(TypedDict):
    node_id: int
    status: str
    attempts: int
    execution_ids: list[int]
    error: str | None


class DagRunData(TypedDict):
    id: int
    project_id: int
    status: str
    nodes: list[DagRunNodeData]
    max_retries: int
    retry_backoff_seconds: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None


def dag_run_get(*, project_id: int, dag_run_id: int) -> DagRun:
    """404 ``Project not found`` first, then ``DAG run not found`` (missing or in another project)."""
    project_require(project_id)
    dag_run = DagRun.objects.filter(pk=dag_run_id, project_id=project_id).first() if valid_id(dag_run_id) else None
    if dag_run is None:
        raise NotFound("DAG run not found")
    return dag_run


def dag_run_list(*, project_id: int) -> list[DagRun]:
    project_require(project_id)
    return list(DagRun.objects.filter(project_id=project_id).order_by("-created_at", "-id"))


def dag_runs_data(dag_runs: list[DagRun]) -> list[DagRunData]:
    """Several runs in three queries, whatever their size."""
    run_ids = [dag_run.pk for dag_run in dag_runs]
    executions: dict[int, list[int]] = defaultdict(list)
    for run_node_id, execution_id in (
        Execution.objects.filter(dag_run_node__dag_run_id__in=run_ids)
        .order_by("id")
        .values_list("dag_run_node_id", "pk")
    ):
        executions[run_node_id].append(execution_id)
    nodes: dict[int, list[DagRunNodeData]] = defaultdict(list)
    for run_node in DagRunNode.objects.filter(dag_run_id__in=run_ids).order_by("id"):
        nodes[run_node.dag_run_id].append(
            {
                "node_id": run_node.node_id,
                "status": run_node.status,
                "attempts": run_node.attempts,
                "execution_ids": executions[run_node.pk],
                "error": run_node.error,
            }
        )
    return [
        {
            "id": dag_run.pk,
            "project_id": dag_run.project_id,
            "status": dag_run.status,
            "nodes": nodes[dag_run.pk],
            "max_retries": dag_run.max_retries,
            "retry_backoff_seconds": dag_run.retry_backoff_seconds,
            "created_at": iso(dag_run.created_at),
            "started_at": iso(dag_run.started_at),
            "finished_at": iso(dag_run.finished_at),
        }
        for dag_run in dag_runs
    ]


def dag_run_data(dag_run: DagRun) -> DagRunData:
    return dag_runs_data([dag_run])[0]
