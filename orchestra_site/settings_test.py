"""Settings for the tests: the hub's own (``orchestra_site.settings``), and what only tests change.

pytest loads it (``DJANGO_SETTINGS_MODULE`` in ``pyproject.toml``); the hub processes the tests
start use the hub's settings, as in production.
"""

from __future__ import annotations

import os

from orchestra_site.settings import *  # noqa: F403
from orchestra_site.settings import DATA_DIR, DATABASES, SECRET_KEY

# A fixed key when none is configured: no test run writes one into the data dir.
SECRET_KEY = SECRET_KEY or "orchestra-tests-only-not-secret"

if DATABASES["default"]["ENGINE"] == "orchestra_site.db.sqlite3":
    # Tests use a file too (not shared-cache memory), so threads and processes lock like in
    # production. One file per test process, so concurrent test runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-orchestra-{os.getpid()}.sqlite3")}
