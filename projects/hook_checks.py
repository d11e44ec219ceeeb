"""The regular expressions of hooks: checked when saved, evaluated with a time limit.

Python's ``re`` backtracks, so a rule such as ``(a+)+$`` can take longer than the age of the
universe on a long deliverable, and it holds the GIL while it does (a thread cannot be stopped
or even preempted). So the searches run in a short-lived child interpreter (``python -I -S``, an
empty environment, no shell) that reports one result per line; after ``timeout`` seconds for the
whole batch the child is killed and every search it has not answered counts as timed out. A hook
that needs no search starts no process.

Only the first ``DELIVERABLE_MAX_BYTES`` characters of a content are searched.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from django.conf import settings

# What a deliverable with this name must contain when its hook sets no rule of its own.
DEFAULT_VALIDATION_RULES: dict[str, str] = {
    "sources.md": r"https?://[^\s]+",
    "plan.md": r"##\s+",
}
# The citations counted in a sources.md (a linear pattern, searched in the process itself).
URL_PATTERN = re.compile(r"https?://[^\s\)]+")
MIN_SOURCES_URLS = 3
RULE_MAX_LENGTH = 1000
MAX_RULES = 100

_CHILD = """
import json, re, sys
for pattern, text in json.load(sys.stdin):
    try:
        found = re.search(pattern, text) is not None
    except re.error:
        found = False
    sys.stdout.write("1\\n" if found else "0\\n")
    sys.stdout.flush()
"""


class TimedOut:
    """The search did not finish within the time limit."""

    def __repr__(self) -> str:
        return "TIMED_OUT"


TIMED_OUT = TimedOut()


def rule_error(name: str, pattern: str) -> str | None:
    """The 400 message for a rule that is not a usable regular expression, else ``None``."""
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return f"validation_rules.{name}: invalid regular expression"
    return None


def searched_text(content: str) -> str:
    return content[: settings.DELIVERABLE_MAX_BYTES]


def search_all(checks: list[tuple[str, str]], *, timeout: float | None = None) -> list[bool | TimedOut]:
    """For each ``(pattern, text)``, whether ``pattern`` is found in ``text``, or ``TIMED_OUT``."""
    if not checks:
        return []
    limit = settings.HOOK_MATCH_TIMEOUT if timeout is None else timeout
    payload = json.dumps([[pattern, searched_text(text)] for pattern, text in checks])
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={},
        cwd=tempfile.gettempdir(),
        text=True,
    )
    try:
        output, _ = process.communicate(payload, timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    answers: list[bool | TimedOut] = [line == "1" for line in output.splitlines()[: len(checks)]]
    return answers + [TIMED_OUT] * (len(checks) - len(answers))


@dataclass
class HookResult:
    """What a hook run or a validation answers (``HookResultSerializer``)."""

    status: str
    message: str
    validation_errors: list[str] = field(default_factory=list)
    passed_deliverables: list[str] = field(default_factory=list)
    failed_deliverables: list[str] = field(default_factory=list)
