from __future__ import annotations

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # projects may not import agents; agents plugs its planner into the plan endpoint.
        from agents.planner import run_planner_agent
        from projects.planning import register_planner

        register_planner(run_planner_agent)
