"""The built-in pipeline (Run → Start Workflow), kept as one Markdown file: ``default.md``.

Like the built-in templates (``agents.builtin_templates``), the file is YAML front matter followed
by the prompts, each under a level-1 heading that is exactly its phase's name (``##`` and deeper
headings belong to the prompt)::

    ---
    name: Research-Driven Multi-Agent Pipeline
    critic_threshold: 0.5        # share of the counted critic votes that must be YES (a tie passes)
    max_retries: 3               # implementation attempts before the run fails
    phases:                      # always these five, in this order
      - name: research
        agents: [gemini]         # claude, codex or gemini; several run side by side
        timeout_seconds: 900     # optional: each agent's time limit (else ORCHESTRA_STEP_TIMEOUT)
        models: {gemini: gemini-2.5-pro}   # optional: the model each agent uses (else its CLI's default)
      - {name: ideation, agents: [claude, codex, gemini]}
      - {name: synthesis, agents: [claude]}
      - {name: implement, agents: [codex]}
      - {name: critic, agents: [claude, codex, gemini]}
    ---

    # research

    The research prompt ...

The order of the phases is the hub's (research → ideation → synthesis → human review →
implement ↔ critic); the file chooses their agents, prompts, threshold, retries and time limits.
An operator replaces it without editing Python by pointing ``ORCHESTRA_PIPELINE_FILE`` at a file of
the same shape. A launch reads the file and freezes what it read into the execution, so editing it
changes later launches only. Placeholders are described in ``agents.services.pipelines.prompts``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from agents.builtin_templates import BuiltinTemplateError, _check_keys, _sections
from projects.models import AgentType

DEFAULT_FILE = Path(__file__).resolve().parent / "default.md"
PHASES = ("research", "ideation", "synthesis", "implement", "critic")
SINGLE_AGENT_PHASES = ("research", "synthesis", "implement")
FRONT_KEYS = {"name", "critic_threshold", "max_retries", "phases"}
PHASE_KEYS = {"name", "agents", "timeout_seconds", "models"}
AGENTS = tuple(AgentType.values)  # custom: ORCHESTRA_CUSTOM_AGENT_COMMAND (the benchmark's instant agents)


class PipelineDefinitionError(BuiltinTemplateError):
    """A pipeline file that cannot be read; the message names the file and the field."""


@dataclass(frozen=True)
class PhaseDefinition:
    name: str
    agents: list[str]
    prompt: str
    timeout_seconds: float | None = None
    models: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    critic_threshold: float
    max_retries: int
    phases: list[PhaseDefinition]

    def phase(self, name: str) -> PhaseDefinition:
        return next(phase for phase in self.phases if phase.name == name)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineDefinition:
        phases = [PhaseDefinition(**phase) for phase in data["phases"]]
        return cls(
            name=data["name"],
            critic_threshold=float(data["critic_threshold"]),
            max_retries=int(data["max_retries"]),
            phases=phases,
        )


def pipeline_file() -> Path:
    configured = getattr(settings, "PIPELINE_FILE", None)
    return Path(configured) if configured else DEFAULT_FILE


def read_pipeline(path: Path | None = None) -> PipelineDefinition:
    """The pipeline ``path`` (default: ``ORCHESTRA_PIPELINE_FILE``, else the built-in one) defines."""
    path = path or pipeline_file()
    try:
        return _parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PipelineDefinitionError(f"{path}: cannot be read ({error.strerror or error})") from error
    except (BuiltinTemplateError, yaml.YAMLError) as error:
        raise PipelineDefinitionError(f"{path.name}: {error}") from error


def _parse(text: str) -> PipelineDefinition:
    lines = text.splitlines()
    if not lines or lines[0] != "---" or "---" not in lines[1:]:
        raise PipelineDefinitionError("the file must start with YAML front matter between two '---' lines")
    end = lines.index("---", 1)
    front = yaml.safe_load("\n".join(lines[1:end]))
    if not isinstance(front, dict):
        raise PipelineDefinitionError("the front matter must be a mapping")
    _check_keys(front, required=FRONT_KEYS, allowed=FRONT_KEYS, where="front matter")
    name, threshold, retries = front["name"], front["critic_threshold"], front["max_retries"]
    if not isinstance(name, str) or not name.strip():
        raise PipelineDefinitionError("name must be text")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise PipelineDefinitionError("critic_threshold must be a number above 0 and at most 1")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 1 <= retries <= 10:
        raise PipelineDefinitionError("max_retries must be a whole number from 1 to 10")
    raw = front["phases"]
    if not isinstance(raw, list) or [p.get("name") if isinstance(p, dict) else None for p in raw] != list(PHASES):
        raise PipelineDefinitionError(f"phases must be, in this order: {', '.join(PHASES)}")
    prompts = _sections(lines[end + 1 :], list(PHASES))
    phases = [_phase(fields, prompt) for fields, prompt in zip(raw, prompts, strict=True)]
    return PipelineDefinition(name=name.strip(), critic_threshold=float(threshold), max_retries=retries, phases=phases)


def _phase(fields: dict[str, Any], prompt: str) -> PhaseDefinition:
    where = f"phases.{fields['name']}"
    _check_keys(fields, required={"name", "agents"}, allowed=PHASE_KEYS, where=where)
    agents = fields["agents"]
    if not isinstance(agents, list) or not agents or any(agent not in AGENTS for agent in agents):
        raise PipelineDefinitionError(f"{where}.agents must be a non-empty list of {', '.join(AGENTS)}")
    if fields["name"] in SINGLE_AGENT_PHASES and len(agents) != 1:
        raise PipelineDefinitionError(f"{where}.agents must name exactly one agent")
    timeout = fields.get("timeout_seconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise PipelineDefinitionError(f"{where}.timeout_seconds must be a positive number")
    models = fields.get("models") or {}
    if not isinstance(models, dict) or any(
        agent not in agents or not isinstance(model, str) or not model.strip() for agent, model in models.items()
    ):
        raise PipelineDefinitionError(f"{where}.models must map agents of the phase to model names")
    return PhaseDefinition(
        name=fields["name"], agents=list(agents), prompt=prompt, timeout_seconds=timeout, models=dict(models)
    )
