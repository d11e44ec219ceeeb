"""``manage.py load_builtin_templates [--update]``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from agents.builtin_templates import BuiltinTemplate, read_builtin_templates
from agents.models import AgentStep, AgentTemplate, StepEdge
from agents.services import templates as template_services

pytestmark = pytest.mark.django_db

STEP_KEYS = list(read_builtin_templates()[0]["steps"][0])


def load(*args: str) -> str:
    out = StringIO()
    call_command("load_builtin_templates", *args, stdout=out)
    return out.getvalue()


def stored(name: str) -> dict[str, Any]:
    """The one stored template named ``name`` in the files' shape, plus its step ids."""
    template = AgentTemplate.objects.get(name=name)
    steps = list(template.steps.order_by("id"))
    index = {step.pk: position for position, step in enumerate(steps)}
    return {
        "name": template.name,
        "description": template.description,
        "metadata": template.metadata,
        "steps": [{key: getattr(step, key) for key in STEP_KEYS} for step in steps],
        "edges": [(index[p], index[c]) for p, c in template.edges.order_by("id").values_list("parent_id", "child_id")],
    }


def from_file(name: str) -> BuiltinTemplate:
    return next(spec for spec in read_builtin_templates() if spec["name"] == name)


def edit_bug_investigation() -> AgentTemplate:
    """Change the description, a prompt and an edge, as a user would through the API."""
    template = AgentTemplate.objects.get(name="Bug Investigation")
    template_services.template_update(template_id=template.pk, changes={"description": "Mine now."})
    trace, cause = template.steps.get(name="Code Trace"), template.steps.get(name="Root Cause Analysis")
    template_services.step_update(
        template_id=template.pk, step_id=trace.pk, changes={"prompt_template": "Trace {{node.title}}."}
    )
    template_services.edge_delete(template_id=template.pk, parent_id=trace.pk, child_id=cause.pk)
    return template


def test_after_migrate_every_built_in_is_unchanged_and_nothing_is_written() -> None:
    before = list(AgentStep.objects.values_list("pk", "updated_at"))
    assert load() == "Built-in templates: 0 created, 0 updated, 6 unchanged, 0 kept.\n"
    assert load("--update") == "Built-in templates: 0 created, 0 updated, 6 unchanged, 0 kept.\n"
    assert list(AgentStep.objects.values_list("pk", "updated_at")) == before
    for spec in read_builtin_templates():
        assert stored(spec["name"]) == spec


def test_it_recreates_a_deleted_built_in_from_its_file_once() -> None:
    AgentTemplate.objects.filter(name="Research Swarm").delete()
    assert load() == "Built-in templates: 1 created, 0 updated, 5 unchanged, 0 kept.\n"
    assert stored("Research Swarm") == from_file("Research Swarm")
    assert AgentTemplate.objects.order_by("-created_at", "-id").first().name == "Research Swarm"
    assert load() == "Built-in templates: 0 created, 0 updated, 6 unchanged, 0 kept.\n"
    assert AgentTemplate.objects.count() == 6


def test_without_update_an_edited_built_in_is_kept_as_edited() -> None:
    edit_bug_investigation()
    edited = stored("Bug Investigation")
    assert load() == "Built-in templates: 0 created, 0 updated, 5 unchanged, 1 kept.\n"
    assert stored("Bug Investigation") == edited
    assert edited["description"] == "Mine now." and edited["edges"] == [(0, 1)]


def test_update_overwrites_an_edited_built_in_in_place_keeping_its_ids() -> None:
    template = edit_bug_investigation()
    step_ids = list(template.steps.order_by("id").values_list("pk", flat=True))
    assert load("--update") == "Built-in templates: 0 created, 1 updated, 5 unchanged, 0 kept.\n"
    assert stored("Bug Investigation") == from_file("Bug Investigation")
    assert AgentTemplate.objects.get(name="Bug Investigation").pk == template.pk
    assert list(template.steps.order_by("id").values_list("pk", flat=True)) == step_ids
    assert load("--update") == "Built-in templates: 0 created, 0 updated, 6 unchanged, 0 kept.\n"


def test_update_rebuilds_the_steps_when_the_user_renamed_removed_or_added_some() -> None:
    template = AgentTemplate.objects.get(name="Feature Implementation")
    plan = template.steps.get(name="Implementation Plan")
    template_services.step_update(template_id=template.pk, step_id=plan.pk, changes={"name": "The Plan"})
    template_services.step_delete(template_id=template.pk, step_id=template.steps.get(name="Generate Tests").pk)
    template_services.step_create(
        template_id=template.pk, fields={"name": "Extra", "agent_type": "claude", "prompt_template": "More."}
    )
    assert load("--update") == "Built-in templates: 0 created, 1 updated, 5 unchanged, 0 kept.\n"
    assert stored("Feature Implementation") == from_file("Feature Implementation")
    assert StepEdge.objects.filter(template=template).count() == 3


def test_a_users_own_template_with_a_built_in_name_is_never_touched() -> None:
    AgentTemplate.objects.filter(name="Bug Investigation").delete()
    own = template_services.template_create(
        name="Bug Investigation",
        steps=[{"name": "Look", "agent_type": "codex", "prompt_template": "Look at {{node.title}}."}],
    )
    assert load("--update") == "Built-in templates: 0 created, 0 updated, 5 unchanged, 1 kept.\n"
    assert list(AgentTemplate.objects.filter(name="Bug Investigation")) == [own]
    assert list(own.steps.values_list("name", flat=True)) == ["Look"]


def test_a_file_the_services_refuse_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    AgentTemplate.objects.filter(name__in=["Bug Investigation", "Research Swarm"]).delete()
    specs = read_builtin_templates()
    specs[1]["metadata"] = {**specs[1]["metadata"], "timeout_seconds": -1}  # Bug Investigation
    monkeypatch.setattr("agents.services.builtin_templates.read_builtin_templates", lambda: specs)
    with pytest.raises(CommandError) as error:
        load()
    assert str(error.value) == "metadata.timeout_seconds: must be a positive number of seconds."
    assert AgentTemplate.objects.count() == 4  # Research Swarm, created first, was rolled back
