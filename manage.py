#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestra_site.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - reads every ORCHESTRA_* variable now
        from orchestra_site.data_dir import data_dir_prepare

        data_dir_prepare()  # the data dir and its secret key, made on the first start
    except ImproperlyConfigured as exc:
        # A bad setting is one line naming the variable, not a traceback.
        sys.exit(f"orchestra: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
