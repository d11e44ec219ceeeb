from __future__ import annotations

from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    verbose_name = "Workspace orchestration"
    default_auto_field = "django.db.models.BigAutoField"
