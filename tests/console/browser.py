"""The world of the console's browser tests: one real ``serve`` and one Chromium per session.

Playwright drives the Chromium of the machine (Debian's ``chromium`` package); its own browser
download is not needed. Without a Chromium the browser tests are skipped, and say so.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.hub_processes import ROOT, HubProcess, hub_env, manage, migrate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "var" / "console-screenshots"
WIDTHS = {"wide": (1280, 860), "narrow": (390, 844)}
STAFF_USER, STAFF_PASSWORD = "ada", "correct horse battery"


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


SKIP_REASON = f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)"


def start_console_hub(data_dir: Path, agent: str = "fake_agent.py", **settings: str) -> HubProcess:
    """A migrated one-process hub whose ``custom`` agent is one of ``bench/``'s stand-ins (the tests'
    fake agent unless told), with a staff user; ``settings`` are more ``ORCHESTRA_*`` variables.
    Its ``claude`` is ``bench/streaming_agent.py``, which streams deltas as claude does."""
    bin_dir = data_dir / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "bench" / "streaming_agent.py"}" "$@"\n'
    )
    (bin_dir / "claude").chmod(0o755)
    env = hub_env(
        data_dir,
        ORCHESTRA_CUSTOM_AGENT_COMMAND=f"{sys.executable},{ROOT / 'bench' / agent},{{prompt}}",
        **{"ORCHESTRA_AGENT_BIN_DIR": str(bin_dir), **settings},
    )
    migrate(env)
    script = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({STAFF_USER!r}, password={STAFF_PASSWORD!r}, is_staff=True)"
    )
    created = manage("shell", "-c", script, env=env)
    assert created.returncode == 0, created.stderr
    return HubProcess(env)


# Module scope: Playwright's sync API keeps an event loop running in the main thread while it is
# open, which would break every async test that runs after it in the same session.
@pytest.fixture(scope="module")
def console_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = start_console_hub(tmp_path_factory.mktemp("console-hub"))
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> None:
    """Save the page (gitignored) for people to look at; ``name`` says which page and width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
