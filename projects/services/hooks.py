"""Hook configurations and their checks.

A hook runs no command, reads no file and sets no environment variable: it checks, with regular
expressions, the content of deliverables stored in the database (``projects.hook_checks`` bounds
the time a check may take). ``trigger``, ``action`` and ``max_retries`` are stored and answered;
nothing acts on them yet. A change of the node's ``node_type`` sends the full ``node.updated``.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from orchestra_site.api.exceptions import InvalidInput, NotFound
from orchestra_site.models_update import model_update
from projects import deliverable_selectors, events
from projects.hook_checks import (
    DEFAULT_VALIDATION_RULES,
    MIN_SOURCES_URLS,
    TIMED_OUT,
    URL_PATTERN,
    HookResult,
    rule_error,
    search_all,
    searched_text,
)
from projects.models import HOOK_MAX_RETRIES, Deliverable, DeliverableStatus, HookNode, Node, NodeType


class HookChanges(TypedDict, total=False):
    name: str
    trigger: str
    action: str
    required_deliverables: list[str]
    validation_rules: dict[str, str]
    requires_human_approval: bool
    max_retries: int


HOOK_FIELDS = (
    "name",
    "trigger",
    "action",
    "required_deliverables",
    "validation_rules",
    "requires_human_approval",
    "max_retries",
)
PASSED, FAILED, AWAITING_APPROVAL = "passed", "failed", "awaiting_approval"


@transaction.atomic
def hook_create(*, project_id: int, node_id: int, **fields: Any) -> HookNode:
    """Attach a configuration to any node of the project and make it a ``hook`` node."""
    node = _locked_node(project_id=project_id, node_id=node_id)
    if HookNode.objects.filter(node_id=node.pk).exists():
        raise InvalidInput("Hook configuration already exists")
    _check_fields(fields)
    now = timezone.now()
    values = {name: fields[name] for name in HOOK_FIELDS if name in fields}
    hook = HookNode.objects.create(node=node, created_at=now, updated_at=now, **values)
    _set_node_type(node, NodeType.HOOK)
    return hook


@transaction.atomic
def hook_update(*, project_id: int, node_id: int, changes: HookChanges) -> HookNode:
    """Change the keys present; lists and the rules map replace the stored ones."""
    hook = deliverable_selectors.hook_get(project_id=project_id, node_id=node_id)
    _check_fields(dict(changes))
    updated, _ = model_update(hook, data=dict(changes), fields=HOOK_FIELDS)
    return updated


@transaction.atomic
def hook_delete(*, project_id: int, node_id: int) -> None:
    """Remove the configuration, if any, and make a ``hook`` node a ``task`` again (idempotent)."""
    node = _locked_node(project_id=project_id, node_id=node_id)
    deleted, _ = HookNode.objects.filter(node_id=node.pk).delete()
    if deleted or node.node_type == NodeType.HOOK:
        _set_node_type(node, NodeType.TASK)


def hook_execute(*, project_id: int, node_id: int, source_node_id: int) -> HookResult:
    """Check the source node's newest completed or validated deliverable of each name against
    the hook's rules (or the default rules), and mark each ``validated`` or ``failed``.

    The searches run before any write, outside a transaction (they may take up to
    ``ORCHESTRA_HOOK_MATCH_TIMEOUT``); the status writes are then one transaction, kept even when
    the result is a failure. 404 ``Hook node not found``,
    400 ``Hook has no configuration``, 404 ``Source node not found``, in that order.
    """
    hook_node = deliverable_selectors.hook_node_get(project_id=project_id, node_id=node_id)
    hook = HookNode.objects.filter(node_id=hook_node.pk).first()
    if hook is None:
        raise InvalidInput("Hook has no configuration")
    source = deliverable_selectors.node_in_project(
        project_id=project_id, node_id=source_node_id, message="Source node not found"
    )
    found = deliverable_selectors.newest_checkable_by_name(source.pk)
    missing = [name for name in _names(hook.required_deliverables) if name not in found]
    if missing:
        return HookResult(
            status=FAILED, message=f"Missing required deliverables: {missing!r}", failed_deliverables=missing
        )

    rules = hook.validation_rules if isinstance(hook.validation_rules, dict) else {}
    checked = [
        (name, deliverable, rules.get(name) or DEFAULT_VALIDATION_RULES.get(name))
        for name, deliverable in found.items()
    ]
    searches = [(rule, deliverable.content) for _, deliverable, rule in checked if rule]
    answers = iter(search_all(searches))
    result = HookResult(status=PASSED, message="All validations passed")
    verdicts: list[tuple[Deliverable, str, str | None]] = []
    for name, deliverable, rule in checked:
        problem, note = None, None
        if rule:
            answer = next(answers)
            if answer is TIMED_OUT:
                problem = f"{name}: Validation rule '{rule}' timed out"
                note = f"Validation failed: pattern '{rule}' timed out"
            elif not answer:
                problem = f"{name}: Does not match validation rule '{rule}'"
                note = f"Validation failed: pattern '{rule}' not found"
            elif name == "sources.md":
                urls = len(URL_PATTERN.findall(searched_text(deliverable.content)))
                if urls < MIN_SOURCES_URLS:
                    problem = f"{name}: Found only {urls} URLs, need at least {MIN_SOURCES_URLS} citations"
                    note = f"Validation failed: found only {urls} URLs, need at least {MIN_SOURCES_URLS}"
        if problem is None:
            verdicts.append((deliverable, DeliverableStatus.VALIDATED, None))
            result.passed_deliverables.append(name)
        else:
            verdicts.append((deliverable, DeliverableStatus.FAILED, note))
            result.validation_errors.append(problem)
            result.failed_deliverables.append(name)
    with transaction.atomic():
        for deliverable, status, note in verdicts:
            _mark(deliverable, status=status, note=note)
    if result.validation_errors:
        result.status, result.message = FAILED, "Validation failed"
    elif hook.requires_human_approval:
        result.status, result.message = AWAITING_APPROVAL, "Waiting for human approval"
    return result


def node_validate(*, project_id: int, node_id: int, names: list[str]) -> HookResult:
    """Check only ``names`` among the node's newest completed or validated deliverables, with the
    default rules; nothing is written. An empty list passes."""
    deliverable_selectors.node_in_project(project_id=project_id, node_id=node_id)
    found = deliverable_selectors.newest_checkable_by_name(node_id)
    wanted = list(dict.fromkeys(names))
    missing = [name for name in wanted if name not in found]
    if missing:
        return HookResult(status=FAILED, message=f"Missing deliverables: {missing!r}", failed_deliverables=missing)
    ruled = [name for name in wanted if name in DEFAULT_VALIDATION_RULES]
    answers = dict(
        zip(ruled, search_all([(DEFAULT_VALIDATION_RULES[n], found[n].content) for n in ruled]), strict=True)
    )
    result = HookResult(status=PASSED, message="All validations passed")
    for name in wanted:
        answer = answers.get(name, True)
        if answer is True:
            result.passed_deliverables.append(name)
            continue
        detail = "Validation pattern timed out" if answer is TIMED_OUT else "Validation pattern not matched"
        result.validation_errors.append(f"{name}: {detail}")
        result.failed_deliverables.append(name)
    if result.validation_errors:
        result.status, result.message = FAILED, "Validation failed"
    return result


def _locked_node(*, project_id: int, node_id: int) -> Node:
    node = Node.objects.select_for_update().filter(pk=node_id, project_id=project_id).first()
    if node is None:
        raise NotFound(deliverable_selectors.NODE_NOT_FOUND)
    return node


def _check_fields(fields: dict[str, Any]) -> None:
    """What the service refuses whoever calls it: a bad regex, a retry count out of bounds."""
    rules = fields.get("validation_rules")
    if rules is not None:
        if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
            raise InvalidInput("validation_rules: Must be an object of deliverable name -> regular expression.")
        for name, pattern in rules.items():
            error = rule_error(name, pattern)
            if error is not None:
                raise InvalidInput(error)
    names = fields.get("required_deliverables")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise InvalidInput("required_deliverables: Must be a list of deliverable names.")
    retries = fields.get("max_retries")
    if retries is not None and not 0 <= retries <= HOOK_MAX_RETRIES:
        raise InvalidInput(f"max_retries: Must be between 0 and {HOOK_MAX_RETRIES}.")


def _set_node_type(node: Node, node_type: str) -> None:
    if node.node_type == node_type:
        return
    updated, _ = model_update(node, data={"node_type": node_type}, fields=("node_type",))
    events.send_node_updated(updated)


def _mark(deliverable: Deliverable, *, status: str, note: str | None = None) -> None:
    """Write the check's verdict unless the row changed status meanwhile (then it was not the row checked)."""
    values: dict[str, Any] = {"status": status, "updated_at": timezone.now()}
    if note is not None:
        errors = deliverable.validation_errors if isinstance(deliverable.validation_errors, list) else []
        values["validation_errors"] = [*errors, note]
    Deliverable.objects.filter(pk=deliverable.pk, status=deliverable.status).update(**values)


def _names(value: Any) -> list[str]:
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []
