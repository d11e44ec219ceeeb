"""Every app's tests load the shared fixtures from ``tests/support/`` as plugins, and find the data
dir made as ``manage.py`` makes it (the test database lives there)."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.flush",
    "tests.support.selection",
    "tests.support.agent_runs",
    "tests.support.dag_runs",
]


def pytest_configure(config: pytest.Config) -> None:
    from orchestra_site.data_dir import data_dir_prepare

    data_dir_prepare()
