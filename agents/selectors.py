"""Reads that shape templates, steps, executions and step runs into the contract's JSON.

The dicts built here are the HTTP responses; the events in ``agents.events`` are subsets of them.
Lookups raise ``NotFound`` with the contract's ``detail`` strings.
"""

from __future__ import annotations

import shlex
import sys
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

from django.conf import settings

from agents.models import AgentStep, AgentTemplate, Execution, StepEdge, StepRun
from orchestra_site.api.exceptions import Conflict, NotFound
from projects import selectors as project_selectors
from projects.models import Node, Project
from projects.selectors import iso

# Ids are 64-bit; a bigger number in a path can name no row (and would overflow the driver).
MAX_ID = 2**63 - 1


class TemplateData(TypedDict):
    id: int
    name: str
    description: str | None
    metadata: dict[str, Any]
    created_at: str | None
    updated_at: str | None


class StepData(TypedDict):
    id: int
    template_id: int
    name: str
    agent_type: str
    prompt_template: str
    output_format: str
    position_x: float
    position_y: float
    metadata: dict[str, Any]
    model_version: str | None
    thinking_budget: int | None
    reasoning_level: str | None
    parent_ids: list[int]
    child_ids: list[int]
    created_at: str | None
    updated_at: str | None


class StepEdgeData(TypedDict):
    parent_id: int
    child_id: int


class TemplateWithStepsData(TemplateData):
    steps: list[StepData]
    edges: list[StepEdgeData]


class StepRunData(TypedDict):
    id: int
    execution_id: int
    step_id: int | None
    name: str
    agent_type: str
    prompt: str
    status: str
    output: str | None
    error: str | None
    metadata: dict[str, Any]
    started_at: str | None
    finished_at: str | None
    created_at: str | None
    updated_at: str | None


class ExecutionData(TypedDict):
    id: int
    project_id: int
    node_id: int | None
    template_id: int | None
    status: str
    tmux_session: str | None
    worktree_path: str | None
    worktree_branch: str | None
    metadata: dict[str, Any]
    error: str | None
    started_at: str | None
    finished_at: str | None
    created_at: str | None
    updated_at: str | None


class ExecutionWithStepRunsData(ExecutionData):
    step_runs: list[StepRunData]


class AttachCommandData(TypedDict):
    success: bool
    command: str
    note: NotRequired[str]


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def _object(value: Any) -> dict[str, Any]:
    """``metadata`` is always an object in responses, whatever the admin left in the column."""
    return value if isinstance(value, dict) else {}


def project_require(project_id: int) -> None:
    if not valid_id(project_id):
        raise NotFound("Project not found")
    project_selectors.project_require(project_id)


def project_get(project_id: int, *, for_update: bool = False) -> Project:
    """``for_update`` locks the row (as the projects services do) so its nodes cannot vanish meanwhile."""
    projects = Project.objects.select_for_update() if for_update else Project.objects.all()
    project = projects.filter(pk=project_id).first() if valid_id(project_id) else None
    if project is None:
        raise NotFound("Project not found")
    return project


def node_get(*, project_id: int, node_id: int) -> Node:
    """404 ``Project not found`` first, then ``Node not found`` (missing or in another project)."""
    project_require(project_id)
    if not valid_id(node_id):
        raise NotFound("Node not found")
    return project_selectors.node_get(project_id=project_id, node_id=node_id)


# --- Templates, steps and edges ---------------------------------------------------------------


def template_get(template_id: int, *, for_update: bool = False) -> AgentTemplate:
    templates = AgentTemplate.objects.select_for_update() if for_update else AgentTemplate.objects.all()
    template = templates.filter(pk=template_id).first() if valid_id(template_id) else None
    if template is None:
        raise NotFound("Template not found")
    return template


def template_list() -> list[AgentTemplate]:
    return list(AgentTemplate.objects.order_by("-created_at", "-id"))


def step_get(*, template_id: int, step_id: int) -> AgentStep:
    """404 ``Template not found`` first, then ``Step not found`` (missing or in another template)."""
    template_get(template_id)
    step = AgentStep.objects.filter(pk=step_id, template_id=template_id).first() if valid_id(step_id) else None
    if step is None:
        raise NotFound("Step not found")
    return step


def template_data(template: AgentTemplate) -> TemplateData:
    return {
        "id": template.pk,
        "name": template.name,
        "description": template.description,
        "metadata": _object(template.metadata),
        "created_at": iso(template.created_at),
        "updated_at": iso(template.updated_at),
    }


def step_data(
    step: AgentStep, parent_ids: Iterable[int] | None = None, child_ids: Iterable[int] | None = None
) -> StepData:
    """The full step; its links are read (one query) unless the caller passes them."""
    if parent_ids is None or child_ids is None:
        links = StepEdge.objects.filter(parent_id=step.pk) | StepEdge.objects.filter(child_id=step.pk)
        pairs = list(links.values_list("parent_id", "child_id"))
        parent_ids = [parent for parent, child in pairs if child == step.pk]
        child_ids = [child for parent, child in pairs if parent == step.pk]
    return {
        "id": step.pk,
        "template_id": step.template_id,
        "name": step.name,
        "agent_type": step.agent_type,
        "prompt_template": step.prompt_template,
        "output_format": step.output_format,
        "position_x": float(step.position_x),
        "position_y": float(step.position_y),
        "metadata": _object(step.metadata),
        "model_version": step.model_version,
        "thinking_budget": step.thinking_budget,
        "reasoning_level": step.reasoning_level,
        "parent_ids": sorted(parent_ids),
        "child_ids": sorted(child_ids),
        "created_at": iso(step.created_at),
        "updated_at": iso(step.updated_at),
    }


def edge_data(edge: StepEdge) -> StepEdgeData:
    return {"parent_id": edge.parent_id, "child_id": edge.child_id}


def template_with_steps_data(template: AgentTemplate) -> TemplateWithStepsData:
    """Steps (ascending id) with their links, and the edges, in two queries whatever the size."""
    edges = list(StepEdge.objects.filter(template_id=template.pk).order_by("id"))
    parents: dict[int, list[int]] = defaultdict(list)
    children: dict[int, list[int]] = defaultdict(list)
    for edge in edges:
        parents[edge.child_id].append(edge.parent_id)
        children[edge.parent_id].append(edge.child_id)
    steps = AgentStep.objects.filter(template_id=template.pk).order_by("id")
    return {
        **template_data(template),
        "steps": [step_data(step, parents[step.pk], children[step.pk]) for step in steps],
        "edges": [edge_data(edge) for edge in edges],
    }


# --- Executions and step runs -----------------------------------------------------------------


def execution_get(*, project_id: int, execution_id: int) -> Execution:
    """404 ``Project not found`` first, then ``Execution not found`` (missing or in another project)."""
    project_require(project_id)
    execution = (
        Execution.objects.filter(pk=execution_id, project_id=project_id).first() if valid_id(execution_id) else None
    )
    if execution is None:
        raise NotFound("Execution not found")
    return execution


def execution_list(*, project_id: int, node_id: int | None = None, template_id: int | None = None) -> list[Execution]:
    project_require(project_id)
    executions = Execution.objects.filter(project_id=project_id)
    if node_id is not None:
        executions = executions.filter(node_id=node_id)
    if template_id is not None:
        executions = executions.filter(template_id=template_id)
    return list(executions.order_by("-created_at", "-id"))


def execution_index(
    *, project_id: int | None = None, status: str | None = None, limit: int | None = None
) -> list[Execution]:
    """Executions of every project, newest first; a project that does not exist has none."""
    executions = Execution.objects.all()
    if project_id is not None:
        executions = executions.filter(project_id=project_id)
    if status is not None:
        executions = executions.filter(status=status)
    executions = executions.order_by("-created_at", "-id")
    return list(executions[:limit] if limit is not None else executions)


def step_run_get(*, project_id: int, execution_id: int, step_run_id: int) -> StepRun:
    project_require(project_id)
    found = valid_id(execution_id) and valid_id(step_run_id)
    step_run = (
        StepRun.objects.filter(pk=step_run_id, execution_id=execution_id, execution__project_id=project_id).first()
        if found
        else None
    )
    if step_run is None:
        raise NotFound("Step run not found")
    return step_run


def execution_data(execution: Execution) -> ExecutionData:
    return {
        "id": execution.pk,
        "project_id": execution.project_id,
        "node_id": execution.node_id,
        "template_id": execution.template_id,
        "status": execution.status,
        "tmux_session": execution.tmux_session,
        "worktree_path": execution.worktree_path,
        "worktree_branch": execution.worktree_branch,
        "metadata": _object(execution.metadata),
        "error": execution.error,
        "started_at": iso(execution.started_at),
        "finished_at": iso(execution.finished_at),
        "created_at": iso(execution.created_at),
        "updated_at": iso(execution.updated_at),
    }


def step_run_data(step_run: StepRun) -> StepRunData:
    return {
        "id": step_run.pk,
        "execution_id": step_run.execution_id,
        "step_id": step_run.step_id,
        "name": step_run.name,
        "agent_type": step_run.agent_type,
        "prompt": step_run.prompt,
        "status": step_run.status,
        "output": step_run.output,
        "error": step_run.error,
        "metadata": _object(step_run.metadata),
        "started_at": iso(step_run.started_at),
        "finished_at": iso(step_run.finished_at),
        "created_at": iso(step_run.created_at),
        "updated_at": iso(step_run.updated_at),
    }


def execution_with_step_runs_data(execution: Execution) -> ExecutionWithStepRunsData:
    step_runs = StepRun.objects.filter(execution_id=execution.pk).order_by("id")
    return {**execution_data(execution), "step_runs": [step_run_data(step_run) for step_run in step_runs]}


def execution_attach_command(*, project_id: int, execution_id: int) -> AttachCommandData:
    """This hub runs agents itself, so "attaching" is following the execution's live log.

    The command replays the log so far and then streams it until the execution finishes.
    """
    execution = execution_get(project_id=project_id, execution_id=execution_id)
    if not execution.tmux_session:
        raise Conflict("No tmux session for this execution")
    return {
        "success": True,
        "command": attach_command(execution.pk),
        "note": "Agents run inside the hub, not in tmux: run this on the hub machine to follow the execution's "
        "output live (the log so far, then new lines until it finishes).",
    }


def attach_command(execution_id: int) -> str:
    """The shell command that follows an execution (``manage.py follow_execution``), paths quoted."""
    return shlex.join([sys.executable, str(settings.BASE_DIR / "manage.py"), "follow_execution", str(execution_id)])
