"""``bench/`` runs from a checkout without the tests: none of its modules imports ``tests``."""

from __future__ import annotations

import ast

from tests.hub_processes import ROOT


def test_no_bench_module_imports_the_tests() -> None:
    offenders = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} {name}" for name in names if name.split(".")[0] == "tests"]
    assert offenders == []


def test_the_bench_runs_its_own_agent_and_files() -> None:
    text = "\n".join(path.read_text() for path in (ROOT / "bench").glob("*.py"))
    assert '"tests"' not in text and "'tests'" not in text
