"""Bring the stored built-in templates in line with their files, through the template editor."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from agents.builtin_templates import BuiltinStep, BuiltinTemplate, read_builtin_templates
from agents.models import AgentTemplate
from agents.services.templates import (
    STEP_FIELDS,
    StepFields,
    edge_create,
    edge_delete,
    step_create,
    step_delete,
    step_update,
    template_create,
    template_update,
)


@dataclass
class BuiltinInstallSummary:
    """Counts of stored templates: ``kept`` differ from their file and were left as they are."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0


@transaction.atomic
def builtin_templates_install(*, update: bool = False) -> BuiltinInstallSummary:
    """Create each built-in template no stored template is named after; with ``update``, overwrite the
    stored built-ins (``metadata.is_default``) that differ from their file.

    A user's own template that bears a built-in's name is never touched. All or nothing: a file the
    services refuse leaves every template as it was.
    """
    summary = BuiltinInstallSummary()
    for spec in reversed(read_builtin_templates()):
        stored = list(AgentTemplate.objects.filter(name=spec["name"]).order_by("id"))
        if not stored:
            template_create(
                name=spec["name"],
                description=spec["description"],
                metadata=dict(spec["metadata"]),
                steps=[_step_fields(step) for step in spec["steps"]],
                edges=spec["edges"],
            )
            summary.created += 1
        for template in stored:
            if _content(template) == _content_of(spec):
                summary.unchanged += 1
            elif update and isinstance(template.metadata, dict) and template.metadata.get("is_default") is True:
                _overwrite(template, spec)
                summary.updated += 1
            else:
                summary.kept += 1
    return summary


def _overwrite(template: AgentTemplate, spec: BuiltinTemplate) -> None:
    """Steps keep their ids (and their step runs' links) when the names match the file's, in order."""
    template_update(
        template_id=template.pk, changes={"description": spec["description"], "metadata": dict(spec["metadata"])}
    )
    stored = list(template.steps.order_by("id"))
    if [step.name for step in stored] == [step["name"] for step in spec["steps"]]:
        ids = [
            step_update(template_id=template.pk, step_id=step.pk, changes=_step_fields(fields)).pk
            for step, fields in zip(stored, spec["steps"], strict=True)
        ]
    else:
        for step in stored:
            step_delete(template_id=template.pk, step_id=step.pk)
        ids = [step_create(template_id=template.pk, fields=_step_fields(fields)).pk for fields in spec["steps"]]
    wanted = [(ids[parent], ids[child]) for parent, child in spec["edges"]]
    if list(template.edges.order_by("id").values_list("parent_id", "child_id")) != wanted:
        for parent_id, child_id in list(template.edges.values_list("parent_id", "child_id")):
            edge_delete(template_id=template.pk, parent_id=parent_id, child_id=child_id)
        for parent_id, child_id in wanted:
            edge_create(template_id=template.pk, parent_id=parent_id, child_id=child_id)


def _step_fields(step: BuiltinStep) -> StepFields:
    return {
        "name": step["name"],
        "agent_type": step["agent_type"],
        "prompt_template": step["prompt_template"],
        "output_format": step["output_format"],
        "position_x": step["position_x"],
        "position_y": step["position_y"],
        "metadata": {},
        "model_version": step["model_version"],
        "thinking_budget": step["thinking_budget"],
        "reasoning_level": step["reasoning_level"],
        "max_budget_usd": None,  # built-ins set no budget; the workspace's daily budget still applies
    }


def _content(template: AgentTemplate) -> tuple[object, ...]:
    """What a stored template holds that its file defines, in the shape of ``_content_of``."""
    steps = list(template.steps.order_by("id"))
    index = {step.pk: position for position, step in enumerate(steps)}
    edges = [
        (index[parent], index[child])
        for parent, child in template.edges.order_by("id").values_list("parent_id", "child_id")
    ]
    step_fields = [{key: getattr(step, key) for key in STEP_FIELDS} for step in steps]
    return (template.description, template.metadata, step_fields, edges)


def _content_of(spec: BuiltinTemplate) -> tuple[object, ...]:
    return (spec["description"], spec["metadata"], [dict(_step_fields(step)) for step in spec["steps"]], spec["edges"])
