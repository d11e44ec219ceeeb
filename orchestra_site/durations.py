"""Parse the short durations the hub's settings and commands accept: ``30s``, ``15m``, ``24h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Return the timedelta for ``text``; a bare number means seconds. Raise ValueError otherwise."""
    match = _PATTERN.match(str(text))
    if match is None:
        raise ValueError(f"invalid duration {text!r}: use a number with s, m, h, d or w, e.g. 30s or 24h")
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNITS[unit])
