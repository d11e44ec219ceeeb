"""A custom agent that leaves its process group: it starts ``setsid sleep 1000`` (a session of its
own, so a signal to the agent's group misses it), writes that child's pid to the file its prompt
names once it has, then works (a line every 0.2 s) until it is stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

pid_file = Path(sys.argv[1].strip())
child = subprocess.Popen(["setsid", "sleep", "1000"])
while os.getsid(child.pid) != child.pid:  # written once the child has left the agent's session
    time.sleep(0.005)
pid_file.write_text(str(child.pid))
while True:
    print("working", flush=True)
    time.sleep(0.2)
