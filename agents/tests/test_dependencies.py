"""The services never reach the runner: it calls them, and they wake it through ``agents.wakeup``."""

from __future__ import annotations

import ast
from pathlib import Path

AGENTS = Path(__file__).resolve().parent.parent
ROOT = AGENTS.parent


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement of ``path`` (``from a import b`` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _reachable_agents_modules(start: list[Path]) -> dict[str, str]:
    """The agents modules imported, directly or through other agents modules, from ``start``;
    each with the file that imported it."""
    seen: dict[str, str] = {}
    todo = list(start)
    while todo:
        path = todo.pop()
        for name in _imports(path):
            if not name.startswith("agents.") or name in seen:
                continue
            module = _module_file(name)
            if module is None:
                continue  # a name imported from a module, not a module
            seen[name] = str(path.relative_to(ROOT))
            todo.append(module)
    return seen


def test_the_import_walk_sees_through_modules() -> None:
    """The walk follows imports across modules: the runner's loop reaches the lifecycle and the worker."""
    reached = _reachable_agents_modules([AGENTS / "runner" / "loop.py"])
    assert "agents.services.lifecycle.steps" in reached
    assert "agents.runner.worker" in reached


def test_services_never_import_the_runner() -> None:
    services = sorted((AGENTS / "services").rglob("*.py"))
    assert AGENTS / "services" / "lifecycle" / "steps.py" in services
    reached = _reachable_agents_modules(services)
    runner = {name: by for name, by in reached.items() if name == "agents.runner" or name.startswith("agents.runner.")}
    assert runner == {}
