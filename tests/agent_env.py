"""Environment + throwaway HOME for running each real agent CLI offline.

``offline_env(cli, base_url, home)`` returns the *whole* environment for the child (built
from a tiny allowlist, never the test runner's environment, so no real keys leak in) and
prepares ``home`` (e.g. gemini's ``~/.gemini/settings.json``).  Point ``base_url`` at a
``FakeModelServer``.  Each CLI is pointed at it by its usual variables:

* claude: ``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_API_KEY``, and
  ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` (no telemetry/update/statsig calls).
* codex:  ``OPENAI_BASE_URL`` + ``OPENAI_API_KEY``.  Codex itself ignores
  ``OPENAI_BASE_URL``; the hub's codex adapter turns it into ``-c model_providers...``
  flags (see ``agents.adapters.codex``).  ``CODEX_HOME`` is kept inside ``home``.
* gemini: ``GOOGLE_GEMINI_BASE_URL`` + ``GEMINI_API_KEY``, ``GEMINI_CLI_TRUST_WORKSPACE``,
  and the settings file selecting API-key auth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FAKE_KEY = "fake-key-not-a-secret"

# Only what a CLI needs to find node/its libraries; everything else is explicit.
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "SYSTEMROOT")


def base_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        TMPDIR=str(home / "tmp"),
        NO_COLOR="1",
        CI="1",
    )
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def offline_env(cli: str, base_url: str, home: Path) -> dict[str, str]:
    """Env for running ``cli`` ("claude" | "codex" | "gemini") against ``base_url``."""
    home.mkdir(parents=True, exist_ok=True)
    env = base_env(home)
    if cli == "claude":
        env.update(
            ANTHROPIC_BASE_URL=base_url,
            ANTHROPIC_API_KEY=FAKE_KEY,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
            DISABLE_TELEMETRY="1",
            DISABLE_ERROR_REPORTING="1",
        )
    elif cli == "codex":
        codex_home = home / ".codex"
        codex_home.mkdir(exist_ok=True)
        env.update(
            OPENAI_BASE_URL=base_url.rstrip("/") + "/v1",
            OPENAI_API_KEY=FAKE_KEY,
            CODEX_HOME=str(codex_home),
        )
    elif cli == "gemini":
        settings_dir = home / ".gemini"
        settings_dir.mkdir(exist_ok=True)
        settings = {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
            "telemetry": {"enabled": False},
        }
        (settings_dir / "settings.json").write_text(json.dumps(settings, indent=2))
        env.update(
            GEMINI_API_KEY=FAKE_KEY,
            GOOGLE_GEMINI_BASE_URL=base_url,
            GEMINI_CLI_TRUST_WORKSPACE="true",
        )
    else:
        raise ValueError(f"unknown cli {cli!r}")
    return env
