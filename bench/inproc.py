"""Django inside the bench process, against a migrated SQLite database in a temporary directory.

Used where the figure is a cost per call or a number of queries, which a ``serve`` process cannot
report. Events are delivered on an event loop in a thread, as ``serve`` delivers them on its own.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

_ready: Path | None = None


def django_ready() -> Path:
    """Set up Django once (SQLite in a temp data dir, migrated) and return the data dir."""
    global _ready
    if _ready is not None:
        return _ready
    data_dir = Path(tempfile.mkdtemp(prefix="orchestra-bench-inproc-"))
    atexit.register(shutil.rmtree, data_dir, True)
    for name in [name for name in os.environ if name.startswith("ORCHESTRA_")]:
        del os.environ[name]
    os.environ.update(DJANGO_SETTINGS_MODULE="orchestra_site.settings", ORCHESTRA_DATA_DIR=str(data_dir))
    os.environ["ORCHESTRA_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    from orchestra_site.data_dir import data_dir_prepare

    data_dir_prepare()

    call_command("migrate", verbosity=0, interactive=False)
    _bind_loop()
    _ready = data_dir
    return data_dir


def _bind_loop() -> None:
    from orchestra_site.realtime.events import bind_event_loop

    loop = asyncio.new_event_loop()
    bound = threading.Event()

    def serve_loop() -> None:
        asyncio.set_event_loop(loop)

        def bind() -> None:
            bind_event_loop(loop)
            bound.set()

        loop.call_soon(bind)
        loop.run_forever()

    threading.Thread(target=serve_loop, name="bench-events", daemon=True).start()
    bound.wait(10)
