"""Best of N: the attempts of one node (written on the ``converse`` branch; this stand-in keeps the
landing code's call in place until the branches meet)."""

from __future__ import annotations

from agents.models import Execution


def discard_other_attempts(*, execution: Execution) -> None:
    """After ``execution`` landed (merged, or a pull request opened): mark the other attempts of
    its group discarded and remove their worktrees. Here a no-op: executions have no attempt
    group on this branch."""
    return None
