"""Budgets: what one agent may spend, what a workspace may spend in a day, and what was spent.

* ``max_budget_usd`` on a launch, a template, a step or a DAG run is a ceiling on what **one
  agent** (one step run) may spend; the smallest that applies is frozen into the step run's
  settings when it is created (``agent_budget``).
* ``ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD`` caps what a workspace's agents spend per UTC day. A
  launch or DAG run into a workspace that spent it is refused (409, ``BudgetSpent``); an agent that
  starts gets at most what is left of the day as its limit (``starting_limit``).
* Spend is the step runs' ``cost_usd``, counted on the day the step finished. A CLI that reports
  tokens but no cost (codex, gemini) is priced with ``ORCHESTRA_TOKEN_PRICE_USD_PER_MILLION``.

How an agent is stopped: claude gets its own ``--max-budget-usd`` and ends itself with the result
subtype ``error_max_budget_usd``; for every CLI the runner reads the cost or usage the CLI reports
(``reported_cost``) and stops the agent past its limit. codex (``turn.completed``) and gemini
(``result``) report usage only at the end of their run, so for them the hub can record the
overrun (``budget_exceeded``) but not cut the run short.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from agents.adapters import AgentEvent
from agents.models import StepRun
from orchestra_site.api.exceptions import HubError

CLAUDE_BUDGET_SUBTYPE = "error_max_budget_usd"


class BudgetSpent(HubError):
    """The workspace spent its daily budget: nothing more is launched there today."""

    status = 409


def agent_budget(*amounts: float | None) -> float | None:
    """The smallest of the budgets that are set (None when none is)."""
    values = [amount for amount in amounts if amount is not None]
    return min(values) if values else None


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def workspace_spent(*, workspace_path: str, day: dt.date | None = None) -> float:
    """USD the workspace's agents spent on ``day`` (UTC, default today)."""
    start, end = day_bounds(day or today())
    total = StepRun.objects.filter(
        execution__workspace_path=workspace_path, finished_at__gte=start, finished_at__lt=end
    ).aggregate(total=Sum("cost_usd"))["total"]
    return float(total or 0.0)


def daily_left(*, workspace_path: str) -> float | None:
    """What the workspace may still spend today (None: no daily budget)."""
    budget = settings.WORKSPACE_DAILY_BUDGET_USD
    if budget is None:
        return None
    return max(budget - workspace_spent(workspace_path=workspace_path), 0.0)


def refuse_when_daily_budget_spent(*, workspace_path: str) -> None:
    left = daily_left(workspace_path=workspace_path)
    if left is not None and left <= 0:
        raise BudgetSpent(
            f"max_budget_usd: the workspace {workspace_path} spent its daily budget of "
            f"${settings.WORKSPACE_DAILY_BUDGET_USD:g} (ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD) today; "
            "launches there are refused until 00:00 UTC"
        )


def starting_limit(*, step_budget: Any, workspace_path: str) -> tuple[float | None, str]:
    """The limit an agent starts with and where it comes from (for the message when it is hit)."""
    own = float(step_budget) if isinstance(step_budget, (int, float)) and not isinstance(step_budget, bool) else None
    left = daily_left(workspace_path=workspace_path)
    if left is not None and (own is None or left < own):
        return left, "what was left of the workspace's daily budget (ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD)"
    return own, "its max_budget_usd"


def estimated_cost(input_tokens: int | None, output_tokens: int | None) -> float | None:
    if input_tokens is None and output_tokens is None:
        return None
    per_input, per_output = settings.TOKEN_PRICE_USD_PER_MILLION
    return ((input_tokens or 0) * per_input + (output_tokens or 0) * per_output) / 1_000_000


def reported_cost(events: Iterable[AgentEvent]) -> float | None:
    """The cost the CLI reported in its ``result`` events, else its tokens priced (None: nothing yet)."""
    cost = None
    for event in events:
        if event.get("kind") != "result":
            continue
        value = event.get("cost_usd")
        if value is None:
            value = estimated_cost(event.get("input_tokens"), event.get("output_tokens"))
        if value is not None:
            cost = value  # each CLI's result carries its run's total so far
    return cost


def stopped_by_its_cli(events: Iterable[AgentEvent]) -> bool:
    return any(event.get("kind") == "result" and event.get("subtype") == CLAUDE_BUDGET_SUBTYPE for event in events)


def over_budget_message(*, spent: float | None, limit: float, source: str) -> str:
    shown = "more than its limit" if spent is None else f"${spent:.4f}"
    return f"budget exceeded: the agent spent {shown}, over ${limit:.4f} ({source}); the agent was stopped"


def spend_by_workspace(*, day: dt.date | None = None, workspace_path: str | None = None) -> list[dict[str, Any]]:
    """What each workspace's agents spent on ``day`` (UTC, default today), against its daily budget;
    with ``workspace_path``, that workspace alone (spent 0 when nothing finished there that day)."""
    day = day or today()
    start, end = day_bounds(day)
    rows = StepRun.objects.filter(finished_at__gte=start, finished_at__lt=end)
    if workspace_path is not None:
        rows = rows.filter(execution__workspace_path=workspace_path)
    totals: dict[str, dict[str, Any]] = {
        row["execution__workspace_path"]: dict(row)
        for row in rows.values("execution__workspace_path")
        .annotate(spent=Sum("cost_usd"), agents=Count("id"), executions=Count("execution_id", distinct=True))
        .order_by("execution__workspace_path")
    }
    if workspace_path is not None and workspace_path not in totals:
        totals[workspace_path] = {"spent": 0.0, "agents": 0, "executions": 0}
    budget = settings.WORKSPACE_DAILY_BUDGET_USD
    out = []
    for path, row in sorted(totals.items()):
        spent = round(float(row["spent"] or 0.0), 6)
        out.append(
            {
                "workspace_path": path,
                "day": day,
                "spent_usd": spent,
                "daily_budget_usd": budget,
                "left_usd": None if budget is None else round(max(budget - spent, 0.0), 6),
                "agents": row["agents"],
                "executions": row["executions"],
            }
        )
    return out
