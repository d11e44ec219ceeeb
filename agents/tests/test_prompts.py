"""Placeholder resolution: ``agents.prompts``."""

from __future__ import annotations

import pytest

from agents.prompts import execution_context, launch_context, resolve_prompt, substitute_step_outputs
from projects import services as project_services
from projects.models import Node

CONTEXT = {
    "node": {
        "id": 7,
        "title": "Fix login",
        "description": None,
        "metadata": {"resources": [], "extra": {"ticket": "OPS-1", "flag": True}},
    },
    "topic": "caching",
    "custom": {"sub": 3, "list": [1, "a"]},
    "ratio": 0.5,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Work on {{node.title}} (#{{node.id}})", "Work on Fix login (#7)"),
        ("{{topic}} / {{custom.sub}} / {{ratio}}", "caching / 3 / 0.5"),
        ("[{{node.description}}]", "[]"),
        ("{{node.metadata.extra.ticket}}", "OPS-1"),
        ("{{node.metadata.extra.flag}}", "true"),
        ("{{custom.list}}", '[1, "a"]'),
        ("{{node.metadata}}", '{"resources": [], "extra": {"ticket": "OPS-1", "flag": true}}'),
    ],
)
def test_it_renders_values_as_text_null_as_empty_and_objects_as_json(template: str, expected: str) -> None:
    assert resolve_prompt(template, CONTEXT) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ node.title }}",  # whitespace is not trimmed
        "{{Node.title}}",  # keys are case-sensitive
        "{{node.missing}}",
        "{{topic.deeper}}",  # walks into a string
        "{{custom.list.0}}",  # no array indexing
        "{{Security Review}}",  # a step name: the runner's job
        "{{}}",
        "{{node..title}}",
    ],
)
def test_it_leaves_unresolved_placeholders_verbatim(template: str) -> None:
    assert resolve_prompt(f"  before {template} after\n", CONTEXT) == f"  before {template} after\n"


def test_it_substitutes_in_one_pass_without_rescanning_inserted_text() -> None:
    context = {"a": "{{b}}", "b": "never"}
    assert resolve_prompt("{{a}} and {{b}}", context) == "{{b}} and never"


def test_a_context_key_equal_to_a_step_name_is_substituted_by_the_hub() -> None:
    assert resolve_prompt("{{Bug Detection}}", {"Bug Detection": "given"}) == "given"


def test_the_runner_fills_step_outputs_and_context_paths_and_nothing_else() -> None:
    prompt = "{{Security Review}}|{{context.topic}}|{{context.custom.sub}}|{{context.nope}}|{{Other}}|{{topic}}"
    result = substitute_step_outputs(
        prompt, {"Security Review": "no issues {{context.topic}}"}, context={"topic": "x", "custom": {"sub": 2}}
    )
    assert result == "no issues {{context.topic}}|x|2|{{context.nope}}|{{Other}}|{{topic}}"


def test_the_runner_without_a_context_only_fills_step_outputs() -> None:
    assert substitute_step_outputs("{{A}} {{context.x}}", {"A": None}) == " {{context.x}}"


@pytest.fixture
def node(db: None) -> Node:
    project = project_services.project_create(name="P")
    return project_services.node_create(
        project_id=project.pk,
        title="Title",
        description="Desc",
        prompt="Do it",
        context="Background",
        agent_type="claude",
        metadata={"resources": [{"kind": "url", "title": "Docs", "url": "https://x"}], "extra": {"k": "v"}},
    )


def test_the_launch_context_holds_the_whole_node_and_request_keys_win_shallowly(node: Node) -> None:
    merged = launch_context(node, {"topic": "t"})
    assert merged == {
        "node": {
            "id": node.pk,
            "title": "Title",
            "description": "Desc",
            "prompt": "Do it",
            "context": "Background",
            "agent_type": "claude",
            "status": "pending",
            "metadata": {
                "resources": [{"kind": "url", "title": "Docs", "url": "https://x", "notes": None}],
                "extra": {"k": "v"},
            },
        },
        "topic": "t",
    }
    replaced = launch_context(node, {"node": {"title": "Mine"}})
    assert replaced == {"node": {"title": "Mine"}}
    assert resolve_prompt("{{node.title}} {{node.id}}", replaced) == "Mine {{node.id}}"


def test_the_direct_execution_context_overwrites_node_with_fewer_keys(node: Node) -> None:
    merged = execution_context(node, {"node": "ignored", "code": "x = 1"})
    assert merged["code"] == "x = 1"
    assert set(merged["node"]) == {"id", "title", "description", "prompt", "metadata"}
    assert resolve_prompt("{{node.context}}|{{node.title}}", merged) == "{{node.context}}|Title"
    assert execution_context(None, {"a": 1}) == {"a": 1}
