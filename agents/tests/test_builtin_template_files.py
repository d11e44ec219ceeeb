"""Reading the built-in templates from ``agents/builtin_templates/*.md``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.builtin_templates import TEMPLATES_DIR, BuiltinTemplateError, read_builtin_templates

# What the templates held when they were Python strings, byte for byte. After changing a file on
# purpose, rewrite it (then review the diff) with:
#   DJANGO_SETTINGS_MODULE=orchestra_site.settings .venv/bin/python -c "import django, json; django.setup();
#   from agents.builtin_templates import read_builtin_templates as read;
#   print(json.dumps(read(), ensure_ascii=False, indent=2))" > agents/tests/builtin_templates.json
SNAPSHOT = Path(__file__).with_name("builtin_templates.json")

GOOD = """---
name: Pair
description: Two steps.
metadata: {icon: "🧩", is_default: true, category: test}
steps:
  - name: First
    agent_type: claude
    position: [80, 80]
  - name: Second
    agent_type: codex
    position: [400, 80.5]
    output_format: code
    reasoning_level: high
edges:
  - [First, Second]
---

# First

Write about "{{node.title}}".

## A sub-heading stays in the prompt

# Second

Use {{First}}.
"""


def write(directory: Path, text: str, name: str = "01-pair.md") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_files_hold_exactly_the_snapshot() -> None:
    loaded = json.loads(json.dumps(read_builtin_templates()))
    assert loaded == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_the_files_are_found_next_to_the_module_in_file_name_order() -> None:
    assert TEMPLATES_DIR == Path(__file__).resolve().parents[1] / "builtin_templates"
    names = sorted(path.name for path in TEMPLATES_DIR.glob("*.md"))
    assert len(names) == 6
    assert [template["name"] for template in read_builtin_templates()] == [
        "Multi-Agent Code Review",
        "Bug Investigation",
        "Feature Implementation",
        "Documentation Generator",
        "Test Suite Generator",
        "Research Swarm",
    ]


def test_it_reads_front_matter_and_sections_into_plain_dicts(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    assert read_builtin_templates(tmp_path) == [
        {
            "name": "Pair",
            "description": "Two steps.",
            "metadata": {"icon": "🧩", "is_default": True, "category": "test"},
            "steps": [
                {
                    "name": "First",
                    "agent_type": "claude",
                    "prompt_template": 'Write about "{{node.title}}".\n\n## A sub-heading stays in the prompt',
                    "output_format": "markdown",
                    "position_x": 80.0,
                    "position_y": 80.0,
                    "model_version": None,
                    "thinking_budget": None,
                    "reasoning_level": None,
                },
                {
                    "name": "Second",
                    "agent_type": "codex",
                    "prompt_template": "Use {{First}}.",
                    "output_format": "code",
                    "position_x": 400.0,
                    "position_y": 80.5,
                    "model_version": None,
                    "thinking_budget": None,
                    "reasoning_level": "high",
                },
            ],
            "edges": [(0, 1)],
        }
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("---\nname: Pair", "name: Pair"), "must start with YAML front matter"),
        (("    agent_type: claude", "    agent_type: claud"), "steps[0].agent_type must be one of"),
        (("    output_format: code", "    output_format: pdf"), "steps[1].output_format must be one of"),
        (("    reasoning_level: high", "    reasoning_levle: high"), "steps[1] has unknown keys: reasoning_levle"),
        (("    position: [80, 80]", "    position: [80]"), "steps[0].position must be [x, y]"),
        (("  - name: Second", "  - name: First"), "two steps have the same name"),
        (("  - [First, Second]", "  - [First, Third]"), "edge ['First', 'Third'] must be [parent, child]"),
        (("  - [First, Second]", "  - [First, Second]\n  - [First, Second]"), "is listed twice"),
        (("# Second", "# Later"), "no section '# Second'"),
        (("# First\n\nWrite", "Preamble\n\n# First\n\nWrite"), "text before the first step's heading"),
        (("Use {{First}}.", ""), "the prompt of step 'Second' is empty"),
        (("description: Two steps.\n", ""), "front matter lacks description"),
        (("steps:", "steps: ["), "while parsing"),
    ],
)
def test_it_refuses_a_malformed_file_naming_it(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    write(tmp_path, GOOD.replace(old, new, 1), name="07-broken.md")
    with pytest.raises(BuiltinTemplateError) as error:
        read_builtin_templates(tmp_path)
    assert str(error.value).startswith("07-broken.md: ")
    assert message in str(error.value)


def test_it_refuses_two_files_with_one_name(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD, name="02-pair-again.md")
    with pytest.raises(BuiltinTemplateError, match="two files define the same template name"):
        read_builtin_templates(tmp_path)
