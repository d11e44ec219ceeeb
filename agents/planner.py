"""The planner behind ``POST /projects/{pid}/plan``: one headless agent run that drafts a DAG.

The CLI is ``ORCHESTRA_PLANNER_AGENT`` (default claude), launched like every agent (argv list,
allowlisted environment, the prompt on stdin, its own process group: ``agents.runner.process.run_to_completion``) in a
scratch folder, never in a project's checkout.
"""

from __future__ import annotations

from django.conf import settings

from agents.runner.launching import build_launch
from agents.runner.process import run_to_completion
from orchestra_site.api.exceptions import HubError, ServiceUnavailable

PLANNER_TIMEOUT = 180.0


def run_planner_agent(prompt: str) -> str:
    """Run the planner CLI on ``prompt`` and return its final answer's text."""
    agent_type = settings.PLANNER_AGENT
    cwd = settings.WORKSPACES_DIR / "_planner"
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        adapter, argv, env, stdin = build_launch(
            agent_type=agent_type, prompt=prompt, step_settings={}, cwd=cwd, step_run_id=0
        )
    except HubError as exc:
        raise ServiceUnavailable(
            f"No planner agent can run (ORCHESTRA_PLANNER_AGENT={agent_type}): {exc.detail}"
        ) from exc
    try:
        done = run_to_completion(argv, cwd=cwd, env=env, timeout=PLANNER_TIMEOUT, stdin=stdin)
    except OSError as exc:
        raise ServiceUnavailable(f"The planner agent ({agent_type}) could not start: {exc}") from exc
    if done.timed_out:
        raise ServiceUnavailable(f"The planner agent ({agent_type}) did not answer within {int(PLANNER_TIMEOUT)}s.")
    events = [event for line in done.stdout for event in adapter.parse_line(line)]
    result = adapter.final_result(events)
    if done.exit_code != 0 or result is None or result.get("is_error"):
        detail = (result.get("text") if result else None) or done.stderr.strip()[-500:]
        raise ServiceUnavailable(f"The planner agent ({agent_type}) failed (exit code {done.exit_code}): {detail}")
    return result["text"]
