"""Every status change of executions, step runs and DAG runs, in one place.

``create``: executions and their step runs come into being (launch, POST /executions, queued Runs,
DAG-run nodes). ``executions``: what clients change (PATCH, cancel). ``steps``: the runner's claim
and finish, and what follows (unreachable steps skipped, the execution settled, cycles failed).
``dag_runs``: a whole-DAG run advanced or cancelled. ``messages``: a finished execution continued
by a follow-up message. ``attempts``: a best-of-N attempt discarded.

Each change is a compare-and-set (a conditional ``UPDATE … WHERE status = expected``, or a row lock
where the DAG run is advanced) inside a transaction, and says so through ``agents.events``, whose
frames leave on commit. The runner calls these; they never call the runner: a change the runner of
this process should act on at once (a launch, a cancel) sets ``agents.wakeup`` on commit.
"""

from __future__ import annotations

from agents.services.lifecycle.attempts import execution_discard
from agents.services.lifecycle.create import (
    dag_node_execution_build,
    dag_node_executions_build,
    execution_build,
    runs_adopt,
    step_settings,
)
from agents.services.lifecycle.dag_runs import dag_run_advance, dag_run_cancel, dag_runs_advance
from agents.services.lifecycle.executions import (
    ExecutionChanges,
    StepRunChanges,
    execution_cancel,
    execution_update,
    run_follow_execution,
    step_run_update,
)
from agents.services.lifecycle.messages import execution_message_send
from agents.services.lifecycle.steps import (
    NOT_COMPLETED,
    StepOutcome,
    execution_settle,
    executions_fail_stuck,
    release_slot,
    step_run_claim,
    step_run_finish,
    step_run_record_pid,
    step_runs_skip_unreachable,
)

__all__ = [
    "NOT_COMPLETED",
    "ExecutionChanges",
    "StepOutcome",
    "StepRunChanges",
    "dag_node_execution_build",
    "dag_node_executions_build",
    "dag_run_advance",
    "dag_run_cancel",
    "dag_runs_advance",
    "execution_build",
    "execution_cancel",
    "execution_discard",
    "execution_message_send",
    "execution_settle",
    "execution_update",
    "executions_fail_stuck",
    "release_slot",
    "run_follow_execution",
    "runs_adopt",
    "step_run_claim",
    "step_run_finish",
    "step_run_record_pid",
    "step_run_update",
    "step_runs_skip_unreachable",
    "step_settings",
]
