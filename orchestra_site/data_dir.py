"""The hub's data dir made ready before a process takes work: created, private, with its secret key.

The settings only say where things are (``ORCHESTRA_DATA_DIR``) and read the key if it is there;
they create nothing. ``manage.py`` calls ``data_dir_prepare()`` before running any command, so
``make run`` on a fresh checkout (``migrate``, then ``serve``) finds its folder, its key and its
database file made the first time, the owner's alone (the folder 0700, its files 0600). A data dir
that cannot be used stops the command with one line naming the setting.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def data_dir_prepare() -> None:
    """Create what is missing (idempotent): the data dir, the secret key, the SQLite file, ``static``."""
    path = Path(settings.DATA_DIR)
    if path.exists() and not path.is_dir():
        raise _unusable("it is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(path, 0o700)
    except OSError as exc:
        raise _unusable(exc.strerror or str(exc)) from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise _unusable("it is not writable by this user" if os.access(path, os.R_OK) else "permission denied")
    if settings.SECRET_KEY_FILE is not None:  # None: ORCHESTRA_SECRET_KEY is set
        _secret_key_prepare(Path(settings.SECRET_KEY_FILE))
    _sqlite_files_prepare()
    try:
        Path(settings.STATIC_ROOT).mkdir(exist_ok=True)  # WhiteNoise warns about a missing STATIC_ROOT
    except OSError as error:
        raise _unusable(f"static: {error.strerror or error}") from None


def _secret_key_prepare(key_file: Path) -> None:
    """Generate the key once, into the data dir: never a shared default."""
    try:
        if not key_file.exists():
            _private_file(key_file, create=True)
            key_file.write_text(secrets.token_urlsafe(50))
        _private_file(key_file, create=False)
        key = key_file.read_text().strip()
    except OSError as exc:
        raise _unusable(f"secret_key: {exc.strerror or exc}") from None
    # The settings read the file if it was there; on the first start it was not.
    settings.SECRET_KEY = key


def _sqlite_files_prepare() -> None:
    """SQLite creates its -wal and -shm files with the database file's permissions: 0600 for all."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "orchestra_site.db.sqlite3":
        return
    sqlite_file = Path(str(database["NAME"]))
    if not sqlite_file.is_absolute():  # ``:memory:`` or a ``file:`` URI
        return
    _private_file(sqlite_file, create=True)
    for suffix in ("-wal", "-shm", "-journal"):
        _private_file(sqlite_file.with_name(sqlite_file.name + suffix), create=False)


def _unusable(reason: str) -> ImproperlyConfigured:
    reason = reason[:1].lower() + reason[1:]  # "Read-only file system" -> "read-only file system"
    raw = os.environ.get("ORCHESTRA_DATA_DIR") or str(settings.DATA_DIR)
    return ImproperlyConfigured(f"ORCHESTRA_DATA_DIR={raw!r} cannot be used: {reason}.")


def _owner_only(path: Path, mode: int) -> None:
    """Take group and other permissions off ``path`` (only ever tightened, never loosened)."""
    current = path.stat().st_mode & 0o777
    if current & ~mode:
        try:
            path.chmod(current & mode)
        except PermissionError:
            pass  # not ours to change; the data dir's own 0700 still closes it to others


def _private_file(path: Path, *, create: bool) -> None:
    """Create ``path`` 0600 (when asked and missing), or take others' permissions off it."""
    try:
        if create and not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        if path.exists():
            _owner_only(path, 0o600)
    except OSError as exc:
        raise _unusable(f"{path.name}: {exc.strerror or exc}") from None
