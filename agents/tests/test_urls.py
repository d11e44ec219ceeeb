"""The agents router keeps the URL names the console and the tests reverse, on the contract's paths."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve, reverse

ROUTES = [
    ("agent-templates", [], "/agent-templates"),
    ("agent-template", [1], "/agent-templates/1"),
    ("agent-steps", [1], "/agent-templates/1/steps"),
    ("agent-step", [1, 2], "/agent-templates/1/steps/2"),
    ("agent-step-edges", [1], "/agent-templates/1/edges"),
    ("executions", [1], "/projects/1/executions"),
    ("execution", [1, 2], "/projects/1/executions/2"),
    ("execution-cancel", [1, 2], "/projects/1/executions/2/cancel"),
    ("execution-attach-command", [1, 2], "/projects/1/executions/2/attach-command"),
    ("execution-log", [1, 2], "/projects/1/executions/2/log"),
    ("step-run", [1, 2, 3], "/projects/1/executions/2/steps/3"),
    ("launch-preview", [1, 2], "/projects/1/nodes/2/preview"),
    ("launch", [1, 2], "/projects/1/nodes/2/launch"),
    ("dag-runs", [1], "/projects/1/dag-runs"),
    ("dag-run", [1, 2], "/projects/1/dag-runs/2"),
    ("dag-run-cancel", [1, 2], "/projects/1/dag-runs/2/cancel"),
    ("execution-index", [], "/executions"),
    ("launch-by-body", [], "/launch"),
]


@pytest.mark.parametrize(("name", "args", "path"), ROUTES, ids=[name for name, _, _ in ROUTES])
def test_every_route_keeps_its_name_and_path(name: str, args: list[int], path: str) -> None:
    assert reverse(name, args=args) == path
    assert resolve(path).url_name == name


@pytest.mark.parametrize("path", ["/agent-templates/", "/projects/1/executions/2/", "/launch/"])
def test_no_route_ends_in_a_slash(path: str) -> None:
    with pytest.raises(Resolver404):
        resolve(path)
