"""A tiny stand-in agent for ``agent_type: custom`` in the benchmarks and the tests: works a while, then answers.

Usage: ``python fake_agent.py PROMPT``. A prompt that is a number is how many seconds to work;
while working it prints a line every half second, so a test sees live output, then
``done: PROMPT in CWD``. The prompt ``fail`` makes it exit with status 3; ``env NAME`` prints
the variable's value (or ``<unset>``); ``quiet SECONDS`` works that long without printing;
``write NAME TEXT`` writes TEXT to the file NAME in its folder, as a coding agent edits.
"""

from __future__ import annotations

import os
import sys
import time

prompt = sys.argv[1]
if prompt.startswith("env "):
    print(f"{prompt[4:]}={os.environ.get(prompt[4:], '<unset>')}", flush=True)
    sys.exit(0)
if prompt.startswith("write "):
    name, _, text = prompt[6:].partition(" ")
    with open(name, "w") as out:
        out.write(text + "\n")
    print(f"wrote {name}", flush=True)
    sys.exit(0)
if prompt.startswith("quiet "):
    time.sleep(float(prompt[6:]))
    print("done after a silence", flush=True)
    sys.exit(0)
try:
    seconds = float(prompt)
except ValueError:
    seconds = 0.0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    print(f"working on: {prompt}", flush=True)
    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
if prompt == "fail":
    print("something went wrong", file=sys.stderr, flush=True)
    sys.exit(3)
print(f"done: {prompt} in {os.getcwd()}", flush=True)
