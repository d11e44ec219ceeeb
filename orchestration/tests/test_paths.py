from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from orchestration.paths import normalize_workspace_id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/Users/alice/x", "/Users/alice/x"),
        ("/Users/alice/x/", "/Users/alice/x"),
        ("/Users//alice///x", "/Users/alice/x"),
        ("/", "/"),
        ("C:\\src\\repo\\", "C:\\src\\repo"),
        ("/Users/Alice/X", "/Users/Alice/X"),
        ("//" + "x" * 1023, "/" + "x" * 1023),
    ],
)
def test_it_normalises_absolute_paths(given: str, expected: str) -> None:
    assert normalize_workspace_id(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        (42, "non-empty"),
        ("/a/../b", "'..'"),
        ("/a/./b", "'.'"),
        ("/a\x00b", "control"),
        ("/" + "x" * 1100, "at most"),
        ("x" * 1025, "at most"),
        ("@acme/\n", "control"),
    ],
)
def test_it_refuses_what_cannot_be_a_workspace_id(given: object, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_workspace_id(given, field="workspaceId")
    assert reason in info.value.message_dict["workspaceId"][0]


@pytest.mark.parametrize(
    "given",
    ["stoked-projects", "@acme/widgets", "my folder", "my folder/", "rel/../path", "x" * 1024, "Ünïcødé 🎻", " "],
)
def test_any_other_id_is_taken_exactly_as_given(given: str) -> None:
    """The VSCode extension names a workspace by its package.json name or folder name."""
    assert normalize_workspace_id(given) == given


def test_a_megabyte_id_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValidationError) as info:
        normalize_workspace_id("y" * 1_000_000)
    assert info.value.message_dict == {"workspaceId": ["must be at most 1024 characters."]}
