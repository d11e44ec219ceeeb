"""A chatty stand-in agent: prints PROMPT lines (default 20 000) as fast as it can, one write per line.

Usage: ``python chatty_agent.py 20000``. Each line is flushed, as a CLI streaming its output does.
"""

from __future__ import annotations

import sys

try:
    count = int(sys.argv[1])
except (IndexError, ValueError):
    count = 20_000
write, flush = sys.stdout.write, sys.stdout.flush
for i in range(count):
    write(f"line {i:06d} of {count}: the agent is thinking out loud about the code it reads\n")
    flush()
