"""``manage.py create_api_key NAME``: create a key and print it once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestra_site.models import ApiKey
from orchestra_site.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key named NAME and print it. Only its hash is stored: copy it now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters.")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(
                f"An API key named {name!r} already exists; revoke it in the admin or pick another name."
            )
        _, raw_key = api_key_create(name=name)
        self.stdout.write(raw_key)
        self.stderr.write(f"Created API key {name!r}. It is shown only this once.")
