"""Create the built-in templates once from their files in ``agents/builtin_templates/``."""

from __future__ import annotations

from django.db import migrations

from agents.builtin_templates import create_builtin_templates, remove_builtin_templates


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(create_builtin_templates, remove_builtin_templates)]
