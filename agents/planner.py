"""The planner behind ``POST /projects/{pid}/plan``: one headless agent run that drafts a DAG.

The CLI is ``ORCHESTRA_PLANNER_AGENT`` (default claude), launched like every agent (argv list,
allowlisted environment, its own process group) in a scratch folder, never in a project's checkout.
"""

from __future__ import annotations

import subprocess

from django.conf import settings

from agents.runner.launching import build_launch
from agents.runner.process import kill_group
from orchestra_site.api.exceptions import HubError, ServiceUnavailable

PLANNER_TIMEOUT = 180.0


def run_planner_agent(prompt: str) -> str:
    """Run the planner CLI on ``prompt`` and return its final answer's text."""
    agent_type = settings.PLANNER_AGENT
    cwd = settings.WORKSPACES_DIR / "_planner"
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        adapter, argv, env = build_launch(
            agent_type=agent_type, prompt=prompt, step_settings={}, cwd=cwd, step_run_id=0
        )
    except HubError as exc:
        raise ServiceUnavailable(
            f"No planner agent can run (ORCHESTRA_PLANNER_AGENT={agent_type}): {exc.detail}"
        ) from exc
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=PLANNER_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(process.pid, 9)
        process.communicate()
        raise ServiceUnavailable(
            f"The planner agent ({agent_type}) did not answer within {int(PLANNER_TIMEOUT)}s."
        ) from None
    finally:
        kill_group(process.pid, 9)
    events = [event for line in stdout.decode("utf-8", "replace").splitlines() for event in adapter.parse_line(line)]
    result = adapter.final_result(events)
    if process.returncode != 0 or result is None or result.get("is_error"):
        detail = (result["text"] if result else "") or stderr.decode("utf-8", "replace").strip()[-500:]
        raise ServiceUnavailable(f"The planner agent ({agent_type}) failed (exit code {process.returncode}): {detail}")
    return result["text"]
