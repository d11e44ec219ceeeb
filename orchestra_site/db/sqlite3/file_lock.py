"""An exclusive ``flock`` on a file with a time limit, for the threads of one process in turn.

``flock()`` cannot time out. So ``acquire`` first tries without waiting; if another process holds
the lock, a daemon thread of this process waits in ``flock()`` for it and hands the lock to the
caller, who waits for that answer only until its own time limit. If it gave up meanwhile, the
thread lets the lock go again as soon as it gets it. The kernel wakes a process blocked in
``flock()`` as soon as the holder lets go, which is the point: no polling, no sleeping after the
lock was freed.

One thread of the process asks at a time (the caller serialises them): a ``flock`` belongs to the
open file, which every thread of the process shares, so two holders in one process would not
exclude each other.
"""

from __future__ import annotations

import fcntl
import os
import threading


class FileLock:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._guard = threading.Lock()
        self._asked = threading.Condition(self._guard)
        self._request: threading.Event | None = None  # the caller waiting for the thread's answer
        self._waiting = False  # the thread has been asked and has not answered yet
        self._thread: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds; False if another process kept it that long."""
        with self._guard:
            if not self._waiting:  # the thread is not in flock() on our open file: try at once
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    pass
            request = self._request = threading.Event()
            self._waiting = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._wait_for_lock, name="sqlite-writers", daemon=True)
                self._thread.start()
            self._asked.notify()
        if request.wait(timeout):
            return True
        with self._guard:
            if request.is_set():  # granted as the time ran out
                return True
            if self._request is request:
                self._request = None  # the thread lets the lock go when it gets it
        return False

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)

    def _wait_for_lock(self) -> None:
        while True:
            with self._guard:
                while not self._waiting:
                    self._asked.wait()
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # releases the GIL; retried after a signal
            with self._guard:
                request, self._request, self._waiting = self._request, None, False
                if request is None:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)  # whoever asked gave up
                else:
                    request.set()
