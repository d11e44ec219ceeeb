"""Prompt-template placeholders.

``{{path}}``: two braces, one or more characters that are not ``}``, two braces. The path is split
on ``.`` and walked key by key through the context; every key must exist exactly (case and
whitespace included, so ``{{ node.title }}`` stays as written). A placeholder whose walk fails, or
reaches a value that is not an object before the end, is left verbatim. Substitution is one pass:
inserted text is never scanned again.

How values become text (this hub's choice, the contract leaves it open; preview, launch and the
runner all go through ``render_value``, so they always agree):

- strings as they are, integers and floats in decimal;
- ``null`` as the empty string (a null node description disappears instead of reading "None");
- booleans, objects and arrays as compact JSON (``true``, ``{"resources": [], "extra": {}}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

from agents.models import ExecutionStatus, StepRun, StepRunStatus
from projects.models import Node
from projects.selectors import node_metadata

PARENT_OUTPUT_CHARS = 4000
PLACEHOLDER = re.compile(r"\{\{([^}]+)\}\}")
_MISSING = object()


def render_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return str(value)


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path``, or ``_MISSING``."""
    value: Any = context
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return value


def resolve_prompt(template: str, context: Mapping[str, Any]) -> str:
    """Fill every placeholder that ``context`` resolves; used by preview and launch alike."""

    def replace(match: re.Match[str]) -> str:
        value = lookup(context, match.group(1))
        return match.group(0) if value is _MISSING else render_value(value)

    return PLACEHOLDER.sub(replace, template)


def substitute_step_outputs(
    prompt: str, outputs_by_step_name: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> str:
    """The runner's pass over a stored step-run prompt, just before the agent starts.

    ``{{Step Name}}`` becomes that upstream step's output (the caller passes the outputs of the
    step run's parents, keyed by their names); ``{{context.key}}`` and ``{{context.key.sub}}``
    walk ``context`` (the execution's ``context``). Everything else stays verbatim, in one pass.
    The stored ``prompt`` is not changed by this.
    """

    def replace(match: re.Match[str]) -> str:
        path = match.group(1)
        if path in outputs_by_step_name:
            return render_value(outputs_by_step_name[path])
        if context is not None and path.startswith("context."):
            value = lookup(context, path[len("context.") :])
            if value is not _MISSING:
                return render_value(value)
        return match.group(0)

    return PLACEHOLDER.sub(replace, prompt)


# --- The contexts prompts are resolved against ------------------------------------------------


def launch_context(node: Node, context: Mapping[str, Any]) -> dict[str, Any]:
    """Preview and launch: the node's data under ``node``, then the request's keys (they win, shallowly)."""
    node_data = {
        "id": node.pk,
        "title": node.title,
        "description": node.description,
        "prompt": node.prompt,
        "context": node.context,
        "agent_type": node.agent_type,
        "status": node.status,
        "metadata": dict(node_metadata(node.metadata)),
    }
    return {"node": node_data, **context}


def execution_context(node: Node | None, context: Mapping[str, Any]) -> dict[str, Any]:
    """POST /executions: the request's keys, then ``node`` overwritten by a smaller node object."""
    merged = dict(context)
    if node is not None:
        merged["node"] = {
            "id": node.pk,
            "title": node.title,
            "description": node.description,
            "prompt": node.prompt,
            "metadata": dict(node_metadata(node.metadata)),
        }
    return merged


# --- A DAG-run node's prompt: its own task, then its parents' results -----------------------------


class ParentResult(TypedDict):
    node_id: int
    title: str
    output: str


def node_prompt(node: Node) -> str:
    """A node's own task: its prompt, or its title and description when it has none."""
    if node.prompt and node.prompt.strip():
        return node.prompt
    return "\n\n".join(part for part in (node.title, node.description) if part)


def parent_results(node: Node) -> list[ParentResult]:
    """Each parent's final output: the last step to finish in its latest completed execution."""
    results: list[ParentResult] = []
    for parent in Node.objects.filter(child_edges__child=node).order_by("id"):
        output = (
            StepRun.objects.filter(
                execution__node=parent, execution__status=ExecutionStatus.COMPLETED, status=StepRunStatus.COMPLETED
            )
            .order_by("-execution_id", "-finished_at", "-id")
            .values_list("output", flat=True)
            .first()
        )
        if output is not None:
            results.append({"node_id": parent.pk, "title": parent.title, "output": trim_output(output)})
    return results


def trim_output(output: str, limit: int = PARENT_OUTPUT_CHARS) -> str:
    if len(output) <= limit:
        return output
    return output[:limit] + f"\n[… {len(output) - limit} more characters not shown]"


def parents_block(parents: list[ParentResult]) -> str:
    """What is appended to a node's prompt: one section per parent with a result."""
    if not parents:
        return ""
    sections = [f"## {p['title']} (node {p['node_id']})\n{p['output']}" for p in parents]
    return "\n\n---\nResults of the tasks this one builds on:\n\n" + "\n\n".join(sections) + "\n"
