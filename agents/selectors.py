"""Reads of templates, steps, executions, step runs, DAG runs and logs: model instances and
querysets, which ``agents.serializers`` shape into the contract's JSON.

Lookups raise ``NotFound`` with the contract's ``detail`` strings, the parent's first (``Project
not found`` before ``Execution not found``). An id that names no row, however large or negative,
is simply not found.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from agents.models import AgentStep, AgentTemplate, DagRun, DagRunNode, Execution, ExecutionLogEntry, StepRun
from orchestra_site.api.exceptions import Conflict, NotFound
from projects import selectors as project_selectors
from projects.models import Node, Project

LOG_PAGE_SIZE = 500
# A run's executions, oldest first, as ``DagRunSerializer`` lists them.
EXECUTION_IDS = Prefetch("executions", queryset=Execution.objects.order_by("id").only("id", "dag_run_node_id"))
ATTACH_NOTE = (
    "Agents run inside the hub, not in tmux: run this on the hub machine to follow the execution's "
    "output live (the log so far, then new lines until it finishes)."
)


def project_require(project_id: int) -> None:
    project_selectors.project_require(project_id)


def project_get(project_id: int, *, for_update: bool = False) -> Project:
    """``for_update`` locks the row (as the projects services do) so its nodes cannot vanish meanwhile."""
    projects = Project.objects.select_for_update() if for_update else Project.objects.all()
    project = projects.filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found")
    return project


def node_get(*, project_id: int, node_id: int) -> Node:
    """404 ``Project not found`` first, then ``Node not found`` (missing or in another project)."""
    return project_selectors.node_get(project_id=project_id, node_id=node_id)


# --- Templates and steps ------------------------------------------------------------------------


def template_get(template_id: int, *, for_update: bool = False) -> AgentTemplate:
    templates = AgentTemplate.objects.select_for_update() if for_update else AgentTemplate.objects.all()
    template = templates.filter(pk=template_id).first()
    if template is None:
        raise NotFound("Template not found")
    return template


def template_list() -> QuerySet[AgentTemplate]:
    return AgentTemplate.objects.order_by("-created_at", "-id")


def step_get(*, template_id: int, step_id: int) -> AgentStep:
    """404 ``Template not found`` first, then ``Step not found`` (missing or in another template)."""
    template_get(template_id)
    step = AgentStep.objects.filter(pk=step_id, template_id=template_id).first()
    if step is None:
        raise NotFound("Step not found")
    return step


# --- Executions and step runs -------------------------------------------------------------------


def execution_get(*, project_id: int, execution_id: int) -> Execution:
    """404 ``Project not found`` first, then ``Execution not found`` (missing or in another project)."""
    project_require(project_id)
    execution = Execution.objects.filter(pk=execution_id, project_id=project_id).first()
    if execution is None:
        raise NotFound("Execution not found")
    return execution


def execution_list(
    *, project_id: int, node_id: int | None = None, template_id: int | None = None, attempt_group: int | None = None
) -> QuerySet[Execution]:
    project_require(project_id)
    executions = Execution.objects.filter(project_id=project_id)
    if node_id is not None:
        executions = executions.filter(node_id=node_id)
    if attempt_group is not None:
        executions = executions.filter(attempt_group=attempt_group)
    if template_id is not None:
        executions = executions.filter(template_id=template_id)
    return executions.order_by("-created_at", "-id")


def execution_index(
    *, project_id: int | None = None, status: str | None = None, limit: int | None = None
) -> QuerySet[Execution]:
    """Executions of every project, newest first; a project that does not exist has none."""
    executions = Execution.objects.all()
    if project_id is not None:
        executions = executions.filter(project_id=project_id)
    if status is not None:
        executions = executions.filter(status=status)
    executions = executions.order_by("-created_at", "-id")
    return executions[:limit] if limit is not None else executions


def step_run_get(*, project_id: int, execution_id: int, step_run_id: int) -> StepRun:
    project_require(project_id)
    step_run = StepRun.objects.filter(
        pk=step_run_id, execution_id=execution_id, execution__project_id=project_id
    ).first()
    if step_run is None:
        raise NotFound("Step run not found")
    return step_run


def attach_command(execution_id: int) -> str:
    """The shell command that follows an execution (``manage.py follow_execution``), paths quoted."""
    return shlex.join([sys.executable, str(settings.BASE_DIR / "manage.py"), "follow_execution", str(execution_id)])


def execution_attach_command(*, project_id: int, execution_id: int) -> dict[str, Any]:
    """This hub runs agents itself, so "attaching" is following the execution's live log: the
    command replays the log so far and then streams it until the execution finishes."""
    execution = execution_get(project_id=project_id, execution_id=execution_id)
    if not execution.tmux_session:
        raise Conflict("No tmux session for this execution")
    return {"success": True, "command": attach_command(execution.pk), "note": ATTACH_NOTE}


# --- Logs ---------------------------------------------------------------------------------------


def log_entries(*, execution_id: int, after: int, limit: int = LOG_PAGE_SIZE) -> list[ExecutionLogEntry]:
    rows = ExecutionLogEntry.objects.filter(execution_id=execution_id, seq__gt=after).order_by("seq")
    return list(rows[:limit])


def log_page(*, project_id: int, execution_id: int, after: int, limit: int) -> dict[str, Any]:
    """One page of an execution's stored output (``LogPageSerializer``): entries after ``after``."""
    execution = execution_get(project_id=project_id, execution_id=execution_id)
    entries = log_entries(execution_id=execution.pk, after=after, limit=limit + 1)  # one more: has_more
    page = entries[:limit]
    return {
        "execution_id": execution.pk,
        "status": execution.status,
        "entries": page,
        "next_after": page[-1].seq if page else after,
        "has_more": len(entries) > limit,
    }


def terminal_frame(entry: ExecutionLogEntry) -> dict[str, Any]:
    return {**entry.data, "seq": entry.seq}


# --- DAG runs -----------------------------------------------------------------------------------


def dag_run_get(*, project_id: int, dag_run_id: int) -> DagRun:
    """404 ``Project not found`` first, then ``DAG run not found`` (missing or in another project)."""
    project_require(project_id)
    dag_run = DagRun.objects.filter(pk=dag_run_id, project_id=project_id).first()
    if dag_run is None:
        raise NotFound("DAG run not found")
    return dag_run


def dag_run_list(*, project_id: int) -> QuerySet[DagRun]:
    """Newest first, with their nodes and executions: three queries, whatever the number."""
    project_require(project_id)
    run_nodes = Prefetch("run_nodes", queryset=DagRunNode.objects.order_by("id").prefetch_related(EXECUTION_IDS))
    return DagRun.objects.filter(project_id=project_id).order_by("-created_at", "-id").prefetch_related(run_nodes)
