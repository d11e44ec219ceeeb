"""Every app's tests load the shared fixtures from ``tests/support/`` as plugins."""

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.flush",
    "tests.support.selection",
    "tests.support.agent_runs",
    "tests.support.dag_runs",
]
