"""Matchers for whole-body assertions."""

from __future__ import annotations

import re
from typing import Any

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class IsoDatetime:
    """Equal to any ISO 8601 date-time string that carries an offset (``Z`` or ``+hh:mm``)."""

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, str) and bool(_ISO.match(other))

    def __repr__(self) -> str:
        return "<ISO 8601 datetime with offset>"


ISO = IsoDatetime()

EMPTY_METADATA: dict[str, Any] = {"resources": [], "extra": {}}


def node_body(**fields: Any) -> dict[str, Any]:
    """The full node as the API answers it, with defaults for what ``fields`` leaves out."""
    return {
        "description": None,
        "status": "pending",
        "agent_type": None,
        "prompt": None,
        "context": None,
        "metadata": EMPTY_METADATA,
        "node_type": "task",
        "expected_deliverables": [],
        "position_x": 0.0,
        "position_y": 0.0,
        "parent_ids": [],
        "created_at": ISO,
        "updated_at": ISO,
        **fields,
    }
