"""The template editor: templates, their steps and step edges.

Every write locks the template row first, so an edit never lands in a template that a concurrent
request is deleting, and two requests creating the same edge cannot both pass the check.
No events: the contract has none for templates, steps or edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from django.db import IntegrityError, transaction

from agents import selectors
from agents.environment import validate_template_metadata
from agents.models import AgentStep, AgentTemplate, StepEdge
from orchestra_site.api.exceptions import InvalidInput, NotFound
from orchestra_site.models_update import model_update

UNKNOWN_STEP_INDEX = "Edge references unknown step index"
STEPS_NOT_IN_TEMPLATE = "Steps not found in this template"
EDGE_EXISTS = "Edge already exists"

STEP_FIELDS = (
    "name",
    "agent_type",
    "prompt_template",
    "output_format",
    "position_x",
    "position_y",
    "metadata",
    "model_version",
    "thinking_budget",
    "reasoning_level",
    "max_budget_usd",
)


class TemplateChanges(TypedDict, total=False):
    name: str
    description: str | None
    metadata: dict[str, Any] | None
    max_budget_usd: float | None


class StepFields(TypedDict, total=False):
    """A step's editable fields; on create ``name``, ``agent_type`` and ``prompt_template`` are required."""

    name: str
    agent_type: str
    prompt_template: str
    output_format: str
    position_x: float
    position_y: float
    metadata: dict[str, Any] | None
    model_version: str | None
    thinking_budget: int | None
    reasoning_level: str | None
    max_budget_usd: float | None


def _step_values(fields: StepFields, *, field: str = "metadata") -> dict[str, Any]:
    values: dict[str, Any] = {key: fields[key] for key in STEP_FIELDS if key in fields}  # type: ignore[literal-required]
    if "metadata" in values and values["metadata"] is None:
        values["metadata"] = {}
    validate_template_metadata(values.get("metadata"), field=field)
    return values


def _locked_template(template_id: int) -> AgentTemplate:
    template = AgentTemplate.objects.select_for_update().filter(pk=template_id).first()
    if template is None:
        raise NotFound("Template not found")
    return template


@transaction.atomic
def template_create(
    *,
    name: str,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    steps: Sequence[StepFields] = (),
    edges: Sequence[tuple[int, int]] = (),
    max_budget_usd: float | None = None,
) -> AgentTemplate:
    """Create the template, its steps in order, then its edges given as indices into ``steps``.

    Indices are checked before anything is written, so a bad one stores nothing.
    """
    for parent, child in edges:
        if not (0 <= parent < len(steps) and 0 <= child < len(steps)):
            raise InvalidInput(UNKNOWN_STEP_INDEX)
    if len(set(edges)) != len(edges):
        raise InvalidInput(EDGE_EXISTS)
    validate_template_metadata(metadata)
    step_values = [_step_values(fields, field=f"steps[{index}].metadata") for index, fields in enumerate(steps)]
    template = AgentTemplate.objects.create(
        name=name, description=description, metadata=metadata or {}, max_budget_usd=max_budget_usd
    )
    created = [AgentStep.objects.create(template=template, **values) for values in step_values]
    StepEdge.objects.bulk_create(
        StepEdge(template=template, parent=created[parent], child=created[child]) for parent, child in edges
    )
    return template


@transaction.atomic
def template_update(*, template_id: int, changes: TemplateChanges) -> AgentTemplate:
    """Change the keys present; ``metadata`` replaces the stored object and ``None`` makes it ``{}``."""
    template = _locked_template(template_id)
    data: dict[str, Any] = dict(changes)
    if "metadata" in data:
        validate_template_metadata(data["metadata"])
        data["metadata"] = data["metadata"] or {}
    template, _ = model_update(template, data=data, fields=("name", "description", "metadata", "max_budget_usd"))
    return template


@transaction.atomic
def template_delete(*, template_id: int) -> None:
    """Steps and edges go with it; executions and step runs keep their data, detached."""
    _locked_template(template_id).delete()


@transaction.atomic
def step_create(*, template_id: int, fields: StepFields) -> AgentStep:
    template = _locked_template(template_id)
    return AgentStep.objects.create(template=template, **_step_values(fields))


@transaction.atomic
def step_update(*, template_id: int, step_id: int, changes: StepFields) -> AgentStep:
    """Change the editable keys present. Read-only keys (ids, links, timestamps) never reach here."""
    _locked_template(template_id)
    step = selectors.step_get(template_id=template_id, step_id=step_id)
    step, _ = model_update(step, data=_step_values(changes), fields=STEP_FIELDS)
    return step


@transaction.atomic
def step_delete(*, template_id: int, step_id: int) -> None:
    """Every edge touching the step goes too; step runs keep their data with ``step_id`` null."""
    _locked_template(template_id)
    selectors.step_get(template_id=template_id, step_id=step_id).delete()


@transaction.atomic
def edge_create(*, template_id: int, parent_id: int, child_id: int) -> StepEdge:
    """Link two steps of this template. Self-edges and cycles are accepted, as the contract says."""
    _locked_template(template_id)
    wanted = {parent_id, child_id}
    found = AgentStep.objects.filter(template_id=template_id, pk__in=wanted).count()
    if found != len(wanted):
        raise InvalidInput(STEPS_NOT_IN_TEMPLATE)
    try:
        with transaction.atomic():
            return StepEdge.objects.create(template_id=template_id, parent_id=parent_id, child_id=child_id)
    except IntegrityError:
        raise InvalidInput(EDGE_EXISTS)


@transaction.atomic
def edge_delete(*, template_id: int, parent_id: int, child_id: int) -> None:
    """Idempotent: removing an edge that does not exist succeeds."""
    _locked_template(template_id)
    StepEdge.objects.filter(template_id=template_id, parent_id=parent_id, child_id=child_id).delete()
