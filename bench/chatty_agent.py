"""A chatty stand-in agent: prints PROMPT lines (default 20 000), one write per line.

Usage: ``python chatty_agent.py 20000`` prints them as fast as it can; ``python chatty_agent.py
"3000 50"`` prints 3000 lines at 50 a second (a CLI streaming its output for a minute). Each line is
flushed, as a CLI streaming its output does.
"""

from __future__ import annotations

import sys
import time

words = (sys.argv[1] if len(sys.argv) > 1 else "").split()
try:
    count = int(words[0])
except (IndexError, ValueError):
    count = 20_000
try:
    every = 1 / float(words[1])
except (IndexError, ValueError, ZeroDivisionError):
    every = 0.0
write, flush = sys.stdout.write, sys.stdout.flush
started = time.monotonic()
for i in range(count):
    write(f"line {i:06d} of {count}: the agent is thinking out loud about the code it reads\n")
    flush()
    if every and (ahead := started + (i + 1) * every - time.monotonic()) > 0:
        time.sleep(ahead)
