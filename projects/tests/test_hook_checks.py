"""projects.hook_checks: rules are checked when saved and searched in bounded time."""

from __future__ import annotations

import subprocess
import time

import pytest

from projects import hook_checks
from projects.hook_checks import TIMED_OUT, rule_error, search_all


@pytest.mark.parametrize("pattern", ["(", "[z-a]", "*a", "(?P<x>a)(?P<x>b)", "a{2,1}"])
def test_a_broken_rule_is_named(pattern):
    assert rule_error("plan.md", pattern) == "validation_rules.plan.md: invalid regular expression"


@pytest.mark.parametrize("pattern", ["##\\s+", "https?://[^\\s]+", "(a+)+$", ""])
def test_a_valid_rule_passes_even_a_slow_one(pattern):
    assert rule_error("plan.md", pattern) is None


def test_searches_answer_in_order():
    assert search_all([("a", "xa"), ("^b", "ab"), ("", "")]) == [True, False, True]


def test_a_catastrophic_search_is_stopped_and_only_the_unanswered_ones_time_out():
    evil = ("(a+)+$", "a" * 64 + "!")

    started = time.monotonic()
    answers = search_all([("x", "x"), evil, ("y", "y")], timeout=0.5)

    assert time.monotonic() - started < 3
    assert answers == [True, TIMED_OUT, TIMED_OUT]


def test_no_search_starts_no_process(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "Popen", refuse)

    assert search_all([]) == []


def test_only_the_first_max_bytes_are_searched(settings):
    settings.DELIVERABLE_MAX_BYTES = 1024

    assert search_all([("needle", "x" * 1024 + "needle"), ("needle", "x" * 1018 + "needle")]) == [False, True]


def test_the_child_gets_an_empty_environment_and_no_shell(monkeypatch):
    seen: dict[str, object] = {}
    real = subprocess.Popen

    def spy(args, **kwargs):
        seen.update(kwargs, args=args)
        return real(args, **kwargs)

    monkeypatch.setattr(hook_checks.subprocess, "Popen", spy)
    search_all([("a", "a")])

    assert seen["env"] == {}
    assert seen.get("shell") is None
    assert list(seen["args"])[1:4] == ["-I", "-S", "-c"]  # type: ignore[call-overload]  # argv is a list
