"""``manage.py follow_execution EID``: print an execution's agent output as it happens.

This is what ``attach-command`` answers: the hub runs agents headless, so "attaching" means
following the stored and live log (there is no tmux session to attach to).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Execution
from agents.selectors import log_entries

BANNERS = {
    "step_start": "\n=== {step_name} started ===\n",
    "step_complete": "\n=== {step_name} finished ({outcome}) ===\n",
    "status": "\n*** execution {status} ***\n",
}


class Command(BaseCommand):
    help = "Follow the output of execution EID until it finishes (Ctrl-C to stop following)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("execution_id", type=int)
        parser.add_argument("--no-follow", action="store_true", help="print what is stored and exit")
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args: Any, execution_id: int, no_follow: bool, interval: float, **options: Any) -> None:
        if not Execution.objects.filter(pk=execution_id).exists():
            raise CommandError(f"Execution {execution_id} not found")
        after = 0
        while True:
            entries = log_entries(execution_id=execution_id, after=after)
            for entry in entries:
                self.stdout.write(render(entry.data), ending="")
                after = entry.seq
            self.stdout.flush()
            if entries:
                continue
            execution = Execution.objects.get(pk=execution_id)
            if no_follow or execution.is_finished:
                return
            time.sleep(interval)


def render(frame: dict[str, Any]) -> str:
    kind = frame.get("type")
    if kind == "output":
        return str(frame.get("data") or "")
    if kind == "step_complete":
        outcome = "ok" if frame.get("success") else f"failed: {frame.get('error')}"
        return BANNERS[kind].format(step_name=frame.get("step_name"), outcome=outcome)
    if kind in BANNERS:
        return BANNERS[kind].format(**{k: frame.get(k) for k in ("step_name", "status")})
    return ""
