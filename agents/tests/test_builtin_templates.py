"""The six built-in templates, created by the ``0002_builtin_templates`` migration."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.urls import reverse
from rest_framework.test import APIClient

from agents.builtin_templates import create_builtin_templates
from agents.models import AgentStep, AgentTemplate, StepEdge

pytestmark = pytest.mark.django_db

# name -> (category, steps as (name, agent_type, output_format, thinking, reasoning, model), edges by name)
EXPECTED: dict[str, tuple[str, list[tuple[Any, ...]], set[tuple[str, str]]]] = {
    "Multi-Agent Code Review": (
        "review",
        [
            ("Security Review", "gemini", "markdown", None, None, None),
            ("Bug Detection", "codex", "markdown", None, "xhigh", None),
            ("Architecture Review", "claude", "markdown", 16000, None, None),
            ("Review Synthesis", "claude", "markdown", 16000, None, None),
        ],
        {
            ("Security Review", "Review Synthesis"),
            ("Bug Detection", "Review Synthesis"),
            ("Architecture Review", "Review Synthesis"),
        },
    ),
    "Bug Investigation": (
        "debug",
        [
            ("Screenshot Analysis", "gemini", "markdown", None, None, None),
            ("Code Trace", "codex", "markdown", None, "xhigh", None),
            ("Root Cause Analysis", "claude", "markdown", 16000, None, None),
        ],
        {("Screenshot Analysis", "Code Trace"), ("Code Trace", "Root Cause Analysis")},
    ),
    "Feature Implementation": (
        "build",
        [
            ("Spec Analysis", "gemini", "markdown", None, None, None),
            ("Implementation Plan", "claude", "markdown", 16000, None, None),
            ("Generate Code", "codex", "code", None, "xhigh", None),
            ("Generate Tests", "codex", "code", None, "high", None),
        ],
        {
            ("Spec Analysis", "Implementation Plan"),
            ("Implementation Plan", "Generate Code"),
            ("Implementation Plan", "Generate Tests"),
        },
    ),
    "Documentation Generator": (
        "docs",
        [
            ("Code Analysis", "codex", "json", None, "high", None),
            ("API Documentation", "claude", "markdown", 8000, None, None),
            ("Usage Examples", "claude", "markdown", 8000, None, None),
            ("Final Documentation", "claude", "markdown", 16000, None, None),
        ],
        {
            ("Code Analysis", "API Documentation"),
            ("Code Analysis", "Usage Examples"),
            ("API Documentation", "Final Documentation"),
            ("Usage Examples", "Final Documentation"),
        },
    ),
    "Test Suite Generator": (
        "test",
        [
            ("Code Analysis", "codex", "json", None, "high", None),
            ("Unit Tests", "codex", "code", None, "xhigh", None),
            ("Integration Tests", "codex", "code", None, "xhigh", None),
            ("Edge Case Tests", "claude", "code", 16000, None, None),
            ("Test Summary", "claude", "markdown", 8000, None, None),
        ],
        {
            ("Code Analysis", "Unit Tests"),
            ("Code Analysis", "Integration Tests"),
            ("Code Analysis", "Edge Case Tests"),
            ("Unit Tests", "Test Summary"),
            ("Integration Tests", "Test Summary"),
            ("Edge Case Tests", "Test Summary"),
        },
    ),
    "Research Swarm": (
        "research",
        [
            ("Claude Research", "claude", "markdown", 32000, None, None),
            ("Gemini Research", "gemini", "markdown", None, None, "gemini-3-pro"),
            ("Codex Research", "codex", "markdown", None, "xhigh", None),
            ("Claude Review", "claude", "markdown", 32000, None, None),
            ("Gemini Review", "gemini", "markdown", None, None, "gemini-3-pro"),
            ("Codex Review", "codex", "markdown", None, "xhigh", None),
            ("Final Synthesis", "claude", "markdown", 32000, None, None),
        ],
        {(f"{a} Research", f"{b} Review") for a in ("Claude", "Gemini", "Codex") for b in ("Claude", "Gemini", "Codex")}
        | {
            (f"{who} {kind}", "Final Synthesis")
            for who in ("Claude", "Gemini", "Codex")
            for kind in ("Research", "Review")
        },
    ),
}
CONTEXT_KEYS = {
    "Multi-Agent Code Review": {"code"},
    "Bug Investigation": {"screenshot", "codebase_context"},
    "Feature Implementation": {"spec", "codebase_context"},
    "Documentation Generator": {"code"},
    "Test Suite Generator": {"code"},
    "Research Swarm": {"topic", "context"},
}
ICONS = {"review": "🔍", "debug": "🐛", "build": "🛠️", "docs": "📚", "test": "🧪", "research": "🔬"}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{\{([^}]+)\}\}", text))


def test_the_six_built_in_templates_exist_after_migrate_in_the_table_order() -> None:
    response = APIClient().get(reverse("agent-templates"))
    assert response.status_code == 200
    assert [t["name"] for t in response.json()] == list(EXPECTED)
    for template in response.json():
        category = EXPECTED[template["name"]][0]
        assert template["metadata"] == {"icon": ICONS[category], "is_default": True, "category": category}
        assert template["description"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_built_in_template_has_its_steps_settings_and_dag(name: str) -> None:
    _, steps, edges = EXPECTED[name]
    template = AgentTemplate.objects.get(name=name)
    body = APIClient().get(reverse("agent-template", args=[template.pk])).json()
    got = [
        (s["name"], s["agent_type"], s["output_format"], s["thinking_budget"], s["reasoning_level"], s["model_version"])
        for s in body["steps"]
    ]
    assert got == steps
    names = {s["id"]: s["name"] for s in body["steps"]}
    assert {(names[e["parent_id"]], names[e["child_id"]]) for e in body["edges"]} == edges
    assert len(body["edges"]) == len(edges)
    assert len({(s["position_x"], s["position_y"]) for s in body["steps"]}) == len(steps)  # no two stacked


def test_research_swarm_has_seven_steps_and_fifteen_edges() -> None:
    template = AgentTemplate.objects.get(name="Research Swarm")
    assert AgentStep.objects.filter(template=template).count() == 7
    assert StepEdge.objects.filter(template=template).count() == 15


@pytest.mark.parametrize("name", list(EXPECTED))
def test_prompts_use_the_node_their_context_keys_and_only_their_parents_outputs(name: str) -> None:
    template = AgentTemplate.objects.get(name=name)
    steps = list(template.steps.order_by("id"))
    all_names = {step.name for step in steps}
    used_context: set[str] = set()
    for step in steps:
        found = placeholders(step.prompt_template)
        assert "node.title" in found, step.name
        parents = set(StepEdge.objects.filter(child=step).values_list("parent__name", flat=True))
        assert found & all_names == parents, step.name  # every parent's output, and nothing else's
        used_context |= {p for p in found - all_names if not p.startswith("node.")}
        assert len(step.prompt_template) > 300 and step.prompt_template == step.prompt_template.strip()
    assert used_context == CONTEXT_KEYS[name]


def test_running_the_data_migration_again_adds_nothing_and_restores_a_deleted_template() -> None:
    AgentTemplate.objects.filter(name="Bug Investigation").delete()
    create_builtin_templates(django_apps, None)
    create_builtin_templates(django_apps, None)
    assert AgentTemplate.objects.filter(metadata__is_default=True).count() == 6
    assert AgentStep.objects.filter(template__name="Bug Investigation").count() == 3
