"""The pipeline's prompt placeholders and its initial context.

A prompt names ``{{path}}`` placeholders, walked through ``render_context`` (dotted keys):

- ``node.title``, ``node.description``, ``node.prompt`` (the node's Instructions), ``node.context``;
- ``parent_summaries``: one block per direct parent (its description and deliverables), or
  ``No dependencies``;
- ``research.summary``, ``research.raw_output``; ``ideation.<agent>`` (``claude``, ``codex``,
  ``gemini``; a second agent of the same kind is ``claude_2``); ``synthesis.final_plan`` (and
  ``agreements``, ``conflicts``, ``questions``); ``human_input``: each question followed by its
  answer, then the notes; ``implementation.output`` and ``implementation.diff`` (what the
  implementing agent changed in the workspace); ``critic_feedback`` (the NO votes' feedback of the
  previous attempt); ``toy_tests.summary`` (no phase produces it: empty).

A placeholder of a phase that has not run becomes the empty string; one whose first name is
unknown stays as written. One pass: inserted text is never scanned again. Each inserted value is
cut at ``VALUE_MAX_CHARS`` and the prompt at ``PROMPT_MAX_BYTES`` (it travels as one argument,
which Linux limits to 128 KiB).
"""

from __future__ import annotations

import re
from typing import Any

from agents.prompts import render_value
from projects.models import Deliverable, Node, NodeEdge

PLACEHOLDER = re.compile(r"\{\{([^}]+)\}\}")
KNOWN_ROOTS = {
    "node",
    "parent_summaries",
    "research",
    "ideation",
    "synthesis",
    "human_input",
    "toy_tests",
    "implementation",
    "critic_feedback",
}
VALUE_MAX_CHARS = 40_000
PROMPT_MAX_BYTES = 120_000
CUT_NOTE = "\n[… cut by the hub: too long for one prompt]"


def initial_context(node: Node) -> dict[str, Any]:
    """The contract's ``PipelineContext`` at launch: every key present."""
    parents = list(Node.objects.filter(pk__in=NodeEdge.objects.filter(child_id=node.pk).values("parent_id")))
    summaries, deliverables = _parents(parents)
    return {
        "node_id": node.pk,
        "node_title": node.title,
        "node_description": node.description,
        "parent_summaries": summaries,
        "parent_deliverables": deliverables,
        "research": None,
        "ideation": None,
        "synthesis": None,
        "human_input": None,
        "toy_tests": None,
        "implementation": None,
        "critic_feedback": None,
        "critic_results": [],
        "retry_count": 0,
        "current_phase": None,
    }


def _parents(parents: list[Node]) -> tuple[str, dict[str, str]]:
    if not parents:
        return "No dependencies", {}
    produced = _parent_deliverables([parent.pk for parent in parents])
    blocks, contents = [], {}
    for parent in sorted(parents, key=lambda n: n.pk):
        block = [f"## From: {parent.title}"]
        if parent.description:
            block.append(parent.description)
        for name, content in produced.get(parent.pk, []):
            block.append(f"### {name}\n{content}")
            contents[f"{parent.title}/{name}"] = content
        blocks.append("\n".join(block))
    return "\n---\n".join(blocks), contents


def _parent_deliverables(parent_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """The parents' completed or validated deliverables, oldest first (none before they exist)."""
    rows = Deliverable.objects.filter(node_id__in=parent_ids, status__in=("completed", "validated")).order_by(
        "created_at", "id"
    )
    found: dict[int, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row.node_id, []).append((row.name, row.content or ""))
    return found


def human_input_text(human_input: dict[str, Any] | None, questions: list[str]) -> str:
    """Each question with its answer, then the notes; readable by the implementing agent."""
    if not human_input:
        return ""
    answers = human_input.get("answers") or {}
    lines = []
    for index, question in enumerate(questions):
        answer = str(answers.get(str(index), "")).strip() or "(no answer)"
        lines.append(f"Q{index + 1}. {question}\nA: {answer}")
    notes = (human_input.get("notes") or "").strip()
    if notes:
        lines.append(f"Notes: {notes}")
    return "\n\n".join(lines) or "(approved without answers or notes)"


def render_context(node: Node | None, context: dict[str, Any]) -> dict[str, Any]:
    """What the placeholders walk: the stored context, with the node's live fields and ``human_input`` as text."""
    synthesis = context.get("synthesis") or {}
    implementation = context.get("implementation") or {}
    return {
        "node": {
            "title": node.title if node else context.get("node_title"),
            "description": node.description if node else context.get("node_description"),
            "prompt": node.prompt if node else None,
            "context": node.context if node else None,
        },
        "parent_summaries": context.get("parent_summaries"),
        "research": context.get("research") or {},
        "ideation": context.get("ideation") or {},
        "synthesis": synthesis,
        "human_input": human_input_text(context.get("human_input"), synthesis.get("questions") or []),
        "toy_tests": context.get("toy_tests") or {},
        "implementation": implementation,
        "critic_feedback": context.get("critic_feedback"),
    }


def render_prompt(template: str, values: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        path = match.group(1).strip()
        parts = path.split(".")
        if parts[0] not in KNOWN_ROOTS:
            return match.group(0)
        value: Any = values
        for key in parts:
            if not isinstance(value, dict) or key not in value:
                return ""  # a phase that has not run (or a field it did not produce)
            value = value[key]
        if isinstance(value, list):
            text = "\n".join(f"- {item}" for item in value)
        else:
            text = render_value(value)
        return text if len(text) <= VALUE_MAX_CHARS else text[:VALUE_MAX_CHARS] + CUT_NOTE

    return cap_prompt(PLACEHOLDER.sub(replace, template))


def cap_prompt(prompt: str) -> str:
    data = prompt.encode("utf-8")
    if len(data) <= PROMPT_MAX_BYTES:
        return prompt
    room = PROMPT_MAX_BYTES - len(CUT_NOTE.encode("utf-8"))
    return data[:room].decode("utf-8", "ignore") + CUT_NOTE
