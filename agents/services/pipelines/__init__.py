"""The desktop app's Run → Start Workflow: research, ideation, synthesis, human review,
implementation and critics, as a phase machine the hub's runner advances (``machine``), launched
and reviewed by clients (``review``)."""

from __future__ import annotations

from agents.services.pipelines.machine import is_pipeline, pipeline_advance, pipelines_advance

__all__ = ["is_pipeline", "pipeline_advance", "pipelines_advance"]
