"""A tiny stand-in agent for ``agent_type: custom`` in tests: works a while, then answers.

Usage: ``python fake_agent.py PROMPT``. A prompt that is a number is how many seconds to work;
while working it prints a line every half second, so a test sees live output, then
``done: PROMPT``.
"""

from __future__ import annotations

import sys
import time

prompt = sys.argv[1]
try:
    seconds = float(prompt)
except ValueError:
    seconds = 0.0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    print(f"working on: {prompt}", flush=True)
    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
print(f"done: {prompt}", flush=True)
