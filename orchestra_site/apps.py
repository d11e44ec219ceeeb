from __future__ import annotations

from django.apps import AppConfig


class OrchestraSiteConfig(AppConfig):
    """What every app shares: API keys, the event outbox, the process registry."""

    name = "orchestra_site"
    verbose_name = "Hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orchestra_site.api import schema  # noqa: F401  registers the auth schemes with drf-spectacular
