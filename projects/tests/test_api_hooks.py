"""/projects/{pid}/nodes/{nid}/hook, .../hook/execute and .../validate: regex checks of deliverables."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from projects import services
from projects.models import Deliverable, HookNode, Node, NodeType
from projects.tests.helpers import ISO

pytestmark = pytest.mark.django_db

SOURCES = "## Sources\n- https://a.example/1\n- https://b.example/2\n- (https://c.example/3)\n"
PLAN = "## Plan\n1. build it\n"


def hook_url(node: Node, project_id: int | None = None) -> str:
    return reverse("node-hook", args=[project_id or node.project_id, node.pk])


def execute_url(hook: Node, source: Node | int | None = None, project_id: int | None = None) -> str:
    url = reverse("node-hook-execute", args=[project_id or hook.project_id, hook.pk])
    if source is None:
        return url
    return f"{url}?source_node_id={source if isinstance(source, int) else source.pk}"


def validate_url(node: Node, project_id: int | None = None) -> str:
    return reverse("node-validate", args=[project_id or node.project_id, node.pk])


def hook_body(hook_id: int, node_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": hook_id,
        "node_id": node_id,
        "name": "Validation Hook",
        "trigger": "phase_end",
        "action": "validate",
        "required_deliverables": [],
        "validation_rules": {},
        "requires_human_approval": False,
        "max_retries": 1,
        "created_at": ISO,
        "updated_at": ISO,
        **fields,
    }


@pytest.fixture
def gate(make_node: Callable[..., Node]) -> Node:
    return make_node("Gate")


@pytest.fixture
def source(make_node: Callable[..., Node]) -> Node:
    return make_node("Research")


def produce(node: Node, name: str, content: str, status: str = "completed", type: str = "custom") -> Deliverable:
    return services.deliverable_create(node=node, type=type, name=name, content=content, status=status)


def configure(node: Node, **fields: Any) -> HookNode:
    return services.hook_create(project_id=node.project_id, node_id=node.pk, **fields)


# --- Configuration ----------------------------------------------------------------------------


def test_post_creates_the_config_with_defaults_201_and_makes_the_node_a_hook(api_client, gate):
    response = api_client.post(hook_url(gate), {"node_id": 999}, format="json")

    assert response.status_code == 201
    hook = HookNode.objects.get()
    assert response.json() == hook_body(hook.pk, gate.pk)
    gate.refresh_from_db()
    assert gate.node_type == NodeType.HOOK
    node = api_client.get(reverse("node-detail", args=[gate.project_id, gate.pk])).json()
    assert node["node_type"] == "hook"


def test_post_stores_every_field(api_client, gate):
    sent = {
        "name": "Citations",
        "trigger": "deliverable_produced",
        "action": "gate",
        "required_deliverables": ["sources.md"],
        "validation_rules": {"sources.md": r"https?://\S+"},
        "requires_human_approval": True,
        "max_retries": 10,
    }

    response = api_client.post(hook_url(gate), sent, format="json")

    assert response.status_code == 201
    assert response.json() == hook_body(response.json()["id"], gate.pk, **sent)
    assert api_client.get(hook_url(gate)).json() == response.json()


def test_post_errors(api_client, gate, other_project):
    configure(gate)

    missing = api_client.post(reverse("node-hook", args=[gate.project_id, 999999]), {}, format="json")
    wrong_project = api_client.post(hook_url(gate, project_id=other_project.pk), {}, format="json")
    twice = api_client.post(hook_url(gate), {}, format="json")

    assert (missing.status_code, missing.json()["detail"]) == (404, "Node not found")
    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")
    assert (twice.status_code, twice.json()["detail"]) == (400, "Hook configuration already exists")
    assert HookNode.objects.count() == 1


@pytest.mark.parametrize(
    ("sent", "detail"),
    [
        ({"validation_rules": {"plan.md": "(unclosed"}}, "validation_rules.plan.md: invalid regular expression"),
        ({"validation_rules": {"a": "ok", "b": "*bad"}}, "validation_rules.b: invalid regular expression"),
        ({"validation_rules": {"plan.md": 5}}, "validation_rules.plan.md: Must be a string."),
        ({"validation_rules": ["##"]}, "validation_rules: "),
        ({"validation_rules": {"x": "a" * 1001}}, "validation_rules.x: Ensure this field has no more than 1000"),
        ({"max_retries": 11}, "max_retries: Ensure this value is less than or equal to 10."),
        ({"max_retries": -1}, "max_retries: Ensure this value is greater than or equal to 0."),
        ({"max_retries": "two"}, "max_retries: "),
        ({"max_retries": True}, "max_retries: "),
        ({"requires_human_approval": "yes"}, "requires_human_approval: Must be a boolean."),
        ({"trigger": "always"}, "trigger: "),
        ({"action": "run"}, "action: "),
        ({"required_deliverables": "plan.md"}, "required_deliverables: "),
        ({"required_deliverables": [1]}, "required_deliverables.0: Must be a string."),
        ({"name": None}, "name: This field may not be null."),
        ({"command": "rm -rf /"}, "command: Unknown field."),
        (
            {"validation_rules": {f"n{i}": "a" for i in range(101)}},
            "validation_rules: Ensure this field has no more than",
        ),
        ({"validation_rules": {"x" * 256: "a"}}, "validation_rules: Each name must have 1 to 255 characters."),
    ],
)
def test_post_refuses_bad_input_naming_the_field_and_writes_nothing(api_client, gate, sent, detail):
    response = api_client.post(hook_url(gate), sent, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail), response.json()
    assert not HookNode.objects.exists()
    gate.refresh_from_db()
    assert gate.node_type == NodeType.TASK


def test_get_errors_follow_the_node_type(api_client, gate, make_node):
    plain = make_node("Plain")
    typed_by_hand = make_node("Typed", node_type="hook")
    configure(gate)
    services.node_update(project_id=gate.project_id, node_id=gate.pk, changes={"node_type": "task"})

    for node, detail in [
        (plain, "Hook node not found"),
        (typed_by_hand, "Hook configuration not found"),
        (gate, "Hook node not found"),  # the config is there, but the node is a task again
    ]:
        response = api_client.get(hook_url(node))
        assert (response.status_code, response.json()["detail"]) == (404, detail)
    assert api_client.post(hook_url(gate), {}, format="json").json()["detail"] == "Hook configuration already exists"


def test_patch_changes_the_keys_sent_null_keeps_and_maps_replace(api_client, gate):
    configure(gate, validation_rules={"plan.md": "##", "sources.md": "http"}, max_retries=3)

    response = api_client.patch(
        hook_url(gate), {"validation_rules": {"plan.md": "###"}, "max_retries": None, "name": "Plan"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == hook_body(
        response.json()["id"], gate.pk, name="Plan", validation_rules={"plan.md": "###"}, max_retries=3
    )


def test_patch_errors_and_refusals_write_nothing(api_client, gate, make_node):
    plain = make_node("Plain")
    configure(gate, validation_rules={"plan.md": "##"})

    not_a_hook = api_client.patch(hook_url(plain), {"max_retries": 99}, format="json")
    bad_rule = api_client.patch(hook_url(gate), {"validation_rules": {"plan.md": "[z-a]"}}, format="json")
    too_many = api_client.patch(hook_url(gate), {"max_retries": 11, "name": "changed"}, format="json")

    assert (not_a_hook.status_code, not_a_hook.json()["detail"]) == (404, "Hook node not found")
    assert (bad_rule.status_code, bad_rule.json()["detail"]) == (
        400,
        "validation_rules.plan.md: invalid regular expression",
    )
    assert too_many.status_code == 400
    assert too_many.json()["detail"].startswith("max_retries: ")
    hook = HookNode.objects.get()
    assert (hook.name, hook.validation_rules, hook.max_retries) == ("Validation Hook", {"plan.md": "##"}, 1)


def test_delete_is_idempotent_and_makes_the_node_a_task_again(api_client, gate, other_project):
    configure(gate)

    first = api_client.delete(hook_url(gate))
    second = api_client.delete(hook_url(gate))
    wrong_project = api_client.delete(hook_url(gate, project_id=other_project.pk))

    assert (first.status_code, first.json()) == (200, {"status": "deleted"})
    assert (second.status_code, second.json()) == (200, {"status": "deleted"})
    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")
    assert not HookNode.objects.exists()
    gate.refresh_from_db()
    assert gate.node_type == NodeType.TASK


def test_delete_leaves_a_milestone_without_config_a_milestone(api_client, make_node):
    milestone = make_node("v1", node_type="milestone")

    assert api_client.delete(hook_url(milestone)).status_code == 200

    milestone.refresh_from_db()
    assert milestone.node_type == NodeType.MILESTONE


# --- Execute ----------------------------------------------------------------------------------


def test_execute_validates_the_newest_row_of_each_name_and_writes_the_statuses(api_client, gate, source):
    configure(gate, required_deliverables=["sources.md", "plan.md"])
    old_plan = produce(source, "plan.md", "no heading")
    Deliverable.objects.filter(pk=old_plan.pk).update(created_at=timezone.now() - timedelta(hours=1))
    plan = produce(source, "plan.md", PLAN)
    sources = produce(source, "sources.md", SOURCES)
    notes = produce(source, "notes.txt", "anything")  # no rule: validated
    pending = produce(source, "draft.md", "", status="pending")  # not looked at

    response = api_client.post(execute_url(gate, source))

    assert response.status_code == 200
    assert response.json() == {
        "status": "passed",
        "message": "All validations passed",
        "validation_errors": [],
        "passed_deliverables": ["notes.txt", "sources.md", "plan.md"],
        "failed_deliverables": [],
    }
    statuses = dict(Deliverable.objects.values_list("pk", "status"))
    assert statuses == {
        old_plan.pk: "completed",
        plan.pk: "validated",
        sources.pk: "validated",
        notes.pk: "validated",
        pending.pk: "pending",
    }


def test_execute_reports_missing_required_deliverables_and_changes_nothing(api_client, gate, source):
    configure(gate, required_deliverables=["sources.md", "plan.md"])
    plan = produce(source, "plan.md", "no heading")

    response = api_client.post(execute_url(gate, source))

    assert response.json() == {
        "status": "failed",
        "message": "Missing required deliverables: ['sources.md']",
        "validation_errors": [],
        "passed_deliverables": [],
        "failed_deliverables": ["sources.md"],
    }
    plan.refresh_from_db()
    assert plan.status == "completed"


def test_execute_fails_unmatched_rules_and_too_few_citations_and_records_why(api_client, gate, source):
    configure(gate, validation_rules={"plan.md": r"^## Final Plan"})
    plan = produce(source, "plan.md", PLAN)
    sources = produce(source, "sources.md", "one https://a.example only")

    response = api_client.post(execute_url(gate, source))

    assert response.json() == {
        "status": "failed",
        "message": "Validation failed",
        "validation_errors": [
            "sources.md: Found only 1 URLs, need at least 3 citations",
            "plan.md: Does not match validation rule '^## Final Plan'",
        ],
        "passed_deliverables": [],
        "failed_deliverables": ["sources.md", "plan.md"],
    }
    plan.refresh_from_db()
    sources.refresh_from_db()
    assert (plan.status, plan.validation_errors) == (
        "failed",
        ["Validation failed: pattern '^## Final Plan' not found"],
    )
    assert (sources.status, sources.validation_errors) == (
        "failed",
        ["Validation failed: found only 1 URLs, need at least 3"],
    )
    # A failed deliverable is left out of the next run, so it is now missing.
    configure_required = api_client.patch(hook_url(gate), {"required_deliverables": ["plan.md"]}, format="json")
    assert configure_required.status_code == 200
    again = api_client.post(execute_url(gate, source)).json()
    assert (again["status"], again["failed_deliverables"]) == ("failed", ["plan.md"])


def test_execute_awaits_approval_when_the_hook_requires_it(api_client, gate, source):
    configure(gate, requires_human_approval=True)
    produce(source, "plan.md", PLAN)

    response = api_client.post(execute_url(gate, source))

    assert response.json()["status"] == "awaiting_approval"
    assert response.json()["message"] == "Waiting for human approval"


def test_execute_errors_in_order(api_client, gate, source, make_node, other_project):
    elsewhere = services.node_create(project_id=other_project.pk, title="Elsewhere")
    plain = make_node("Plain")
    unconfigured = make_node("Unconfigured", node_type="hook")

    not_a_hook = api_client.post(execute_url(plain, source))
    no_param_not_a_hook = api_client.post(execute_url(plain))
    no_config = api_client.post(execute_url(unconfigured, source))
    configure(gate)
    foreign_source = api_client.post(execute_url(gate, elsewhere))
    missing_source = api_client.post(execute_url(gate, 999999))
    no_param = api_client.post(execute_url(gate))
    bad_param = api_client.post(execute_url(gate) + "?source_node_id=abc")

    assert (not_a_hook.status_code, not_a_hook.json()["detail"]) == (404, "Hook node not found")
    assert (no_param_not_a_hook.status_code, no_param_not_a_hook.json()["detail"]) == (404, "Hook node not found")
    assert (no_config.status_code, no_config.json()["detail"]) == (400, "Hook has no configuration")
    assert (foreign_source.status_code, foreign_source.json()["detail"]) == (404, "Source node not found")
    assert (missing_source.status_code, missing_source.json()["detail"]) == (404, "Source node not found")
    assert (no_param.status_code, no_param.json()["detail"]) == (400, "source_node_id: This field is required.")
    assert bad_param.status_code == 400
    assert bad_param.json()["detail"].startswith("source_node_id: ")


def test_a_catastrophic_rule_cannot_hang_the_hub(api_client, gate, source, settings):
    settings.HOOK_MATCH_TIMEOUT = 0.5
    configure(gate, validation_rules={"report.txt": r"(a+)+$", "plan.md": "##"})
    report = produce(source, "report.txt", "a" * 5000 + "!")
    produce(source, "plan.md", PLAN)

    started = time.monotonic()
    response = api_client.post(execute_url(gate, source))
    elapsed = time.monotonic() - started

    assert elapsed < 5
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "failed"
    assert "report.txt: Validation rule '(a+)+$' timed out" in body["validation_errors"]
    report.refresh_from_db()
    assert report.status == "failed"
    assert report.validation_errors == ["Validation failed: pattern '(a+)+$' timed out"]


def test_a_huge_deliverable_is_checked_in_bounded_time(api_client, gate, source, settings):
    configure(gate, validation_rules={"big.txt": r"needle"})
    produce(source, "big.txt", "x" * (settings.DELIVERABLE_MAX_BYTES - 6) + "needle")

    started = time.monotonic()
    response = api_client.post(execute_url(gate, source))

    assert time.monotonic() - started < 5
    assert response.json()["passed_deliverables"] == ["big.txt"]


# --- Validate ---------------------------------------------------------------------------------


def test_validate_checks_only_the_listed_names_with_the_default_rules_and_writes_nothing(api_client, source):
    plan = produce(source, "plan.md", "no heading")
    sources = produce(source, "sources.md", "only https://one.example")
    produce(source, "notes.txt", "")

    response = api_client.post(validate_url(source), ["sources.md", "plan.md", "notes.txt"], format="json")

    assert response.status_code == 200
    assert response.json() == {
        "status": "failed",
        "message": "Validation failed",
        "validation_errors": ["plan.md: Validation pattern not matched"],
        "passed_deliverables": ["sources.md", "notes.txt"],
        "failed_deliverables": ["plan.md"],
    }
    assert set(Deliverable.objects.filter(pk__in=[plan.pk, sources.pk]).values_list("status", flat=True)) == {
        "completed"
    }


def test_validate_reports_missing_names_and_passes_an_empty_list(api_client, source):
    produce(source, "plan.md", PLAN)

    missing = api_client.post(validate_url(source), ["plan.md", "sources.md"], format="json")
    empty = api_client.post(validate_url(source), [], format="json")

    assert missing.json() == {
        "status": "failed",
        "message": "Missing deliverables: ['sources.md']",
        "validation_errors": [],
        "passed_deliverables": [],
        "failed_deliverables": ["sources.md"],
    }
    assert empty.json() == {
        "status": "passed",
        "message": "All validations passed",
        "validation_errors": [],
        "passed_deliverables": [],
        "failed_deliverables": [],
    }


def test_validate_needs_a_bare_array_of_strings(api_client, source, other_project):
    no_body = api_client.post(validate_url(source))
    an_object = api_client.post(validate_url(source), {"names": ["plan.md"]}, format="json")
    numbers = api_client.post(validate_url(source), [1], format="json")
    wrong_project = api_client.post(validate_url(source, project_id=other_project.pk), {}, format="json")

    for response in (no_body, an_object):
        assert response.status_code == 400
        assert response.json()["detail"].startswith("names: Expected a list")
    assert (numbers.status_code, numbers.json()["detail"]) == (400, "names.0: Must be a string.")
    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")
