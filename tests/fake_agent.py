"""A tiny stand-in agent for ``agent_type: custom`` in tests: waits, then echoes its prompt.

Usage: ``python fake_agent.py SECONDS PROMPT``. Prints one line per half second while it waits,
so a test sees live output, then ``done: PROMPT``.
"""

from __future__ import annotations

import sys
import time

seconds = float(sys.argv[1])
prompt = sys.argv[2]
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    print(f"working on: {prompt}", flush=True)
    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
print(f"done: {prompt}", flush=True)
