"""Importing the settings creates nothing; ``manage.py`` makes the data dir and its key on the first
start, and keeps the key after; the tests run on their own settings module. Real processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.hub_processes import ROOT, hub_env, manage


def test_importing_the_settings_creates_no_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-c", "import orchestra_site.settings as s; print(s.DATA_DIR, repr(s.SECRET_KEY))"],
        cwd=ROOT,
        env=hub_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{data_dir} ''"
    assert not data_dir.exists()


def test_the_first_command_makes_the_data_dir_and_a_key_that_lasts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert manage("check", env=hub_env(data_dir)).returncode == 0
    key_file = data_dir / "secret_key"
    key = key_file.read_text()
    assert len(key) > 40
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = manage("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)", env=hub_env(data_dir))
    assert shown.stdout.strip().splitlines()[-1] == key
    assert key_file.read_text() == key


def test_a_configured_key_writes_no_key_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = hub_env(data_dir, ORCHESTRA_SECRET_KEY="configured-key")
    shown = manage("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)", env=env)
    assert shown.stdout.strip().splitlines()[-1] == "configured-key"
    assert not (data_dir / "secret_key").exists()


def test_the_tests_run_on_their_own_settings() -> None:
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "orchestra_site.settings_test"
    assert settings.SECRET_KEY
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "orchestra_site.db.sqlite3":  # one test file per test process
        assert Path(database["TEST"]["NAME"]).name.startswith(f"test-orchestra-{os.getpid()}.sqlite3")
