"""A tiny custom agent for the DAG-run tests: the first line of its prompt says what to do.

``ok`` answers at once; ``sleep N`` works N seconds first; ``fail`` exits with status 3;
``fail-once PATH`` fails the first time (it creates PATH) and answers from then on. The answer is
``done: FIRST LINE`` and, when the prompt carries parents' results, how many it got.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

prompt = sys.argv[1]
command, _, argument = prompt.splitlines()[0].partition(" ") if prompt else ("ok", "", "")
if command == "sleep":
    time.sleep(float(argument))
if command == "fail" or (command == "fail-once" and not Path(argument).exists()):
    if command == "fail-once":
        Path(argument).touch()
    print("planned failure", file=sys.stderr, flush=True)
    sys.exit(3)
print(f"done: {prompt.splitlines()[0] if prompt else ''} (parents: {prompt.count('## ')})", flush=True)
