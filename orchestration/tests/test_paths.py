from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from orchestration.paths import normalize_workspace_path


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/Users/alice/x", "/Users/alice/x"),
        ("/Users/alice/x/", "/Users/alice/x"),
        ("/Users//alice///x", "/Users/alice/x"),
        ("/", "/"),
        ("C:\\src\\repo\\", "C:\\src\\repo"),
        ("/Users/Alice/X", "/Users/Alice/X"),
    ],
)
def test_it_normalises_absolute_paths(given: str, expected: str) -> None:
    assert normalize_workspace_path(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("relative/path", "absolute"),
        ("", "non-empty"),
        (None, "non-empty"),
        (42, "non-empty"),
        ("/a/../b", "'..'"),
        ("/a/./b", "'.'"),
        ("/a\x00b", "control"),
        ("/" + "x" * 1100, "at most"),
    ],
)
def test_it_refuses_what_is_not_an_absolute_path(given: object, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_workspace_path(given, field="workspaceId")
    assert reason in info.value.message_dict["workspaceId"][0]
