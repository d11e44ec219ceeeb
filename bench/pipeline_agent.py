"""An instant stand-in agent for pipelines (``agent_type: custom``): answers each phase's prompt
at once, in the format the pipeline reads (research, a plan, a synthesis with one question, an
implementation that writes a file, a YES vote). Usage: ``python pipeline_agent.py PROMPT``."""

from __future__ import annotations

import sys
from pathlib import Path

prompt = sys.argv[1]
if "Your Role: CRITIC" in prompt:
    print("VOTE: YES\nREASONING: fine\nFEEDBACK: none")
elif "Execute this plan in the current directory" in prompt:
    Path("bench-output.txt").write_text("done\n")
    print("Wrote bench-output.txt.")
elif "Compare the plans." in prompt:
    print("## Agreements\n- one\n\n## Conflicts\n- none\n\n## Questions for Human\n1. Go?\n\n## Final Plan\nDo it.")
elif "Search the web" in prompt:
    print("## Search Queries\n1. q\n\n## Sources\n### [A](https://example.com)\n- x\n\n## Summary\nSummary.")
else:
    print("## Plan\n1. Do it.")
