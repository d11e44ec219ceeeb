"""A runner in another process starts work as soon as it is committed (a wake-up through the
database: PostgreSQL ``NOTIFY``, or a datagram between SQLite's processes), and one that never
hears of it still finds it after ``ORCHESTRA_WAKEUP_TIMEOUT``. Real ``runagents`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from agents.models import StepRun
from orchestra_site import wakeups
from orchestra_site.models import HubProcess
from tests.support.agent_runs import FAKE_AGENT, ROOT, launch, make_template, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
# A runner is asleep this long after its first cycle found nothing.
SETTLE_SECONDS = 2.0


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def runagents(*, wakeup_timeout: str) -> Iterator[subprocess.Popen[str]]:
    """A ``runagents`` process on the test database, asleep once this yields."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRA_", "DJANGO_"))},
        "ORCHESTRA_DATABASE_URL": database_url(),
        "ORCHESTRA_CUSTOM_AGENT_COMMAND": ",".join([*FAKE_AGENT, "{prompt}"]),
        "ORCHESTRA_WORKSPACE_ROOTS": ",".join(str(r) for r in django_settings.WORKSPACE_ROOTS),
        "ORCHESTRA_DATA_DIR": str(django_settings.DATA_DIR),
        "ORCHESTRA_LOG_LEVEL": "WARNING",
        "ORCHESTRA_WAKEUP_TIMEOUT": wakeup_timeout,
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runagents"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: HubProcess.objects.filter(kind=HubProcess.KIND_RUNNER, pid=process.pid).exists(), timeout=30)
        time.sleep(SETTLE_SECONDS)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
        assert process.returncode == 0, output


def seconds_until_started(execution_id: int, timeout: float) -> float:
    started = time.monotonic()
    wait_for(
        lambda: StepRun.objects.filter(execution_id=execution_id).exclude(status="pending").exists(),
        timeout=timeout,
        every=0.02,
    )
    return time.monotonic() - started


def test_a_runner_in_another_process_starts_a_launch_at_once(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("Quick", "custom", "0")])
    with runagents(wakeup_timeout="60s"):
        execution = launch(api_client, project, node, template)
        # Woken by the launch's commit, not by its 60 s safety timeout.
        assert seconds_until_started(execution["id"], timeout=30) < 3


def test_a_lost_wake_up_only_delays_the_work_until_the_safety_timeout(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    template = make_template(api_client, [("Quick", "custom", "0")])
    # Longer than the runner's 5 s reaping tick, which must not put its safety timeout off.
    with runagents(wakeup_timeout="7s"):
        monkeypatch.setattr(wakeups, "wake", lambda topic, **_: None)  # every wake-up of this process is lost
        execution = launch(api_client, project, node, template)
        assert seconds_until_started(execution["id"], timeout=30) < 7 + 2
