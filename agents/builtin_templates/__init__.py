"""The six built-in templates, kept as one Markdown file each in this folder.

Why Markdown with YAML front matter rather than plain YAML: the prompts are most of the text and are
themselves Markdown (with ``##`` headings, lists and ``{{placeholders}}``). As section bodies they read
and diff like the documents they are, with no YAML block-scalar indentation or escaping to get
wrong; the structured part (settings, positions, edges) stays small and checkable in the front matter.

A file looks like this::

    ---
    name: Bug Investigation
    description: One line for the template list.
    metadata: {icon: "🐛", is_default: true, category: debug}
    steps:
      - name: Code Trace
        agent_type: codex            # claude, codex or gemini
        position: [80, 80]           # position_x, position_y on the builder's canvas
        output_format: markdown      # optional; also model_version, thinking_budget, reasoning_level
    edges:
      - [Code Trace, Root Cause Analysis]   # parent, child, by step name
    ---

    # Code Trace

    The step's prompt template: everything up to the next step's heading, stripped.

Steps' sections come in the order of ``steps``, each under a level-1 heading that is exactly the
step's name (``##`` and deeper headings belong to the prompt). Files are read in the order of their
names, which is the order of the template list. Prompts use ``{{node.*}}`` (filled at launch),
context keys such as ``{{code}}`` (filled when a caller supplies them) and ``{{Upstream Step Name}}``
(filled by the runner).

The data migration creates the templates once from these files (with the historical models), so a
built-in the user deleted stays deleted; ``manage.py load_builtin_templates`` recreates or updates
them through the template services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import yaml

from agents.models import OutputFormat
from projects.models import AgentType

TEMPLATES_DIR = Path(__file__).resolve().parent
FRONT_MATTER = "---"
TEMPLATE_KEYS = {"name", "description", "metadata", "steps", "edges"}
STEP_KEYS = {"name", "agent_type", "position", "output_format", "model_version", "thinking_budget", "reasoning_level"}


class BuiltinStep(TypedDict):
    name: str
    agent_type: str
    prompt_template: str
    output_format: str
    position_x: float
    position_y: float
    model_version: str | None
    thinking_budget: int | None
    reasoning_level: str | None


class BuiltinTemplate(TypedDict):
    """A template as the files define it; ``edges`` are (parent, child) indices into ``steps``."""

    name: str
    description: str
    metadata: dict[str, Any]
    steps: list[BuiltinStep]
    edges: list[tuple[int, int]]


class BuiltinTemplateError(ValueError):
    """A built-in template file that cannot be read; the message names the file."""


def read_builtin_templates(directory: Path = TEMPLATES_DIR) -> list[BuiltinTemplate]:
    """Every ``*.md`` file of ``directory`` as a template, in file-name order."""
    templates = [read_builtin_template(path) for path in sorted(directory.glob("*.md"))]
    names = [template["name"] for template in templates]
    if len(set(names)) != len(names):
        raise BuiltinTemplateError(f"{directory}: two files define the same template name")
    return templates


def read_builtin_template(path: Path) -> BuiltinTemplate:
    try:
        return _parse(path.read_text(encoding="utf-8"))
    except (BuiltinTemplateError, yaml.YAMLError) as error:
        raise BuiltinTemplateError(f"{path.name}: {error}") from error


def _parse(text: str) -> BuiltinTemplate:
    lines = text.splitlines()
    if not lines or lines[0] != FRONT_MATTER or FRONT_MATTER not in lines[1:]:
        raise BuiltinTemplateError("the file must start with YAML front matter between two '---' lines")
    end = lines.index(FRONT_MATTER, 1)
    front = yaml.safe_load("\n".join(lines[1:end]))
    if not isinstance(front, dict):
        raise BuiltinTemplateError("the front matter must be a mapping")
    _check_keys(front, required=TEMPLATE_KEYS, allowed=TEMPLATE_KEYS, where="front matter")
    name, description, metadata = front["name"], front["description"], front["metadata"]
    if not (_is_text(name) and _is_text(description) and isinstance(metadata, dict)):
        raise BuiltinTemplateError("name and description must be text and metadata a mapping")
    if not isinstance(front["steps"], list) or not front["steps"]:
        raise BuiltinTemplateError("steps must be a non-empty list")
    steps = [_step(fields, index) for index, fields in enumerate(front["steps"])]
    step_names = [step["name"] for step in steps]
    if len(set(step_names)) != len(step_names):
        raise BuiltinTemplateError("two steps have the same name")
    for step, prompt in zip(steps, _sections(lines[end + 1 :], step_names), strict=True):
        step["prompt_template"] = prompt
    return {
        "name": name,
        "description": description,
        "metadata": metadata,
        "steps": steps,
        "edges": _edges(front["edges"], step_names),
    }


def _step(fields: object, index: int) -> BuiltinStep:
    where = f"steps[{index}]"
    if not isinstance(fields, dict):
        raise BuiltinTemplateError(f"{where} must be a mapping")
    _check_keys(fields, required={"name", "agent_type", "position"}, allowed=STEP_KEYS, where=where)
    position = fields["position"]
    if not (isinstance(position, list) and len(position) == 2 and all(_is_number(value) for value in position)):
        raise BuiltinTemplateError(f"{where}.position must be [x, y]")
    step: BuiltinStep = {
        "name": fields["name"],
        "agent_type": fields["agent_type"],
        "prompt_template": "",
        "output_format": fields.get("output_format", OutputFormat.MARKDOWN.value),
        "position_x": float(position[0]),
        "position_y": float(position[1]),
        "model_version": fields.get("model_version"),
        "thinking_budget": fields.get("thinking_budget"),
        "reasoning_level": fields.get("reasoning_level"),
    }
    if not _is_text(step["name"]):
        raise BuiltinTemplateError(f"{where}.name must be text")
    if step["agent_type"] not in AgentType.values:
        raise BuiltinTemplateError(f"{where}.agent_type must be one of {', '.join(AgentType.values)}")
    if step["output_format"] not in OutputFormat.values:
        raise BuiltinTemplateError(f"{where}.output_format must be one of {', '.join(OutputFormat.values)}")
    budget = step["thinking_budget"]
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
        raise BuiltinTemplateError(f"{where}.thinking_budget must be a whole number")
    for key in ("model_version", "reasoning_level"):
        if fields.get(key) is not None and not _is_text(fields[key]):
            raise BuiltinTemplateError(f"{where}.{key} must be text")
    return step


def _sections(body: list[str], step_names: list[str]) -> list[str]:
    """Each step's prompt: the lines under ``# <step name>``, the headings in the order of the steps."""
    prompts: list[list[str]] = []
    current: list[str] | None = None
    for line in body:
        if len(prompts) < len(step_names) and line == f"# {step_names[len(prompts)]}":
            current = []
            prompts.append(current)
        elif current is not None:
            current.append(line)
        elif line.strip():
            raise BuiltinTemplateError(f"text before the first step's heading '# {step_names[0]}'")
    if len(prompts) != len(step_names):
        raise BuiltinTemplateError(f"no section '# {step_names[len(prompts)]}' (sections follow the order of steps)")
    texts = ["\n".join(lines).strip() for lines in prompts]
    for name, text in zip(step_names, texts, strict=True):
        if not text:
            raise BuiltinTemplateError(f"the prompt of step '{name}' is empty")
    return texts


def _edges(edges: object, step_names: list[str]) -> list[tuple[int, int]]:
    if not isinstance(edges, list):
        raise BuiltinTemplateError("edges must be a list of [parent, child] step names")
    pairs: list[tuple[int, int]] = []
    for edge in edges:
        if not (isinstance(edge, list) and len(edge) == 2 and all(name in step_names for name in edge)):
            raise BuiltinTemplateError(f"edge {edge!r} must be [parent, child], both names of steps")
        pair = (step_names.index(edge[0]), step_names.index(edge[1]))
        if pair in pairs:
            raise BuiltinTemplateError(f"edge {edge!r} is listed twice")
        pairs.append(pair)
    return pairs


def _check_keys(mapping: dict[Any, Any], *, required: set[str], allowed: set[str], where: str) -> None:
    if missing := required - mapping.keys():
        raise BuiltinTemplateError(f"{where} lacks {', '.join(sorted(missing))}")
    if unknown := mapping.keys() - allowed:
        raise BuiltinTemplateError(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}")


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def create_builtin_templates(apps: Any, schema_editor: Any) -> None:
    """Data migration: add each built-in template unless one with its name exists.

    Created last-to-first so that the list (newest first) shows them in the files' order. Uses the
    historical models the migration passes in, so it works on a fresh database at any later schema.
    """
    template_model = apps.get_model("agents", "AgentTemplate")
    step_model = apps.get_model("agents", "AgentStep")
    edge_model = apps.get_model("agents", "StepEdge")
    for spec in reversed(read_builtin_templates()):
        if template_model.objects.filter(name=spec["name"]).exists():
            continue
        template = template_model.objects.create(
            name=spec["name"], description=spec["description"], metadata=dict(spec["metadata"])
        )
        steps = [step_model.objects.create(template=template, metadata={}, **fields) for fields in spec["steps"]]
        edge_model.objects.bulk_create(
            edge_model(template=template, parent=steps[parent], child=steps[child]) for parent, child in spec["edges"]
        )


def remove_builtin_templates(apps: Any, schema_editor: Any) -> None:
    template_model = apps.get_model("agents", "AgentTemplate")
    names = [spec["name"] for spec in read_builtin_templates()]
    template_model.objects.filter(name__in=names, metadata__is_default=True).delete()
