"""``manage.py load_builtin_templates [--update]``: recreate built-in templates from their files."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.builtin_templates import BuiltinTemplateError
from agents.services.builtin_templates import builtin_templates_install
from orchestra_site.api.exceptions import HubError


class Command(BaseCommand):
    help = (
        "Create the built-in templates that are missing, from the files in agents/builtin_templates/. "
        "'kept' counts stored templates that differ from their file and were left as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--update",
            action="store_true",
            help="also overwrite stored built-in templates that differ from their file (a user's own "
            "template with a built-in's name is never touched)",
        )

    def handle(self, *args: Any, update: bool, **options: Any) -> None:
        try:
            summary = builtin_templates_install(update=update)
        except (BuiltinTemplateError, HubError) as error:
            raise CommandError(str(error))
        self.stdout.write(
            f"Built-in templates: {summary.created} created, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.kept} kept."
        )
