"""``manage.py prune_workspaces [--older-than 24h]``: remove workspaces nobody touched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestra_site.durations import parse_duration
from orchestration.services import workspaces_prune


class Command(BaseCommand):
    help = (
        "Remove workspaces not touched for a while (default ORCHESTRA_WORKSPACE_TTL) that run no "
        "agent and belong to no project; connected clients get the new totals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", help="e.g. 30s, 15m, 24h, 7d (default: ORCHESTRA_WORKSPACE_TTL)")

    def handle(self, *args: Any, older_than: str | None = None, **options: Any) -> None:
        try:
            age = parse_duration(older_than) if older_than else None
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from exc
        if age is None:
            age = timedelta(seconds=settings.WORKSPACE_TTL)
        removed = workspaces_prune(older_than=age)
        for path in removed:
            self.stdout.write(f"removed {path}")
        self.stdout.write(f"Pruned {len(removed)} workspace(s).")
