"""The machine the figures were measured on: CPU, cores, RAM, OS, Python, PostgreSQL, Redis, date."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import REDIS_URL
from bench.report import Table


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"') + f" (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _ram() -> str:
    total = _first("/proc/meminfo", "MemTotal")
    try:
        return f"{int(total.split()[0]) / 1024 / 1024:.1f} GiB"
    except (ValueError, IndexError):
        return total


def _postgres() -> str:
    try:
        import psycopg

        from bench.processes import PG_ADMIN_DSN

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0]}" if row else "unknown"
    except Exception as exc:  # the machine may have none: the Redis/PostgreSQL runs are skipped then
        return f"unavailable ({exc.__class__.__name__})"


def _redis() -> str:
    try:
        import redis

        info = redis.Redis.from_url(REDIS_URL, socket_timeout=3).info("server")
        return f"Redis {info['redis_version']}"
    except Exception as exc:
        return f"unavailable ({exc.__class__.__name__})"


def _virtualised() -> str:
    try:
        out = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True, timeout=3).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "unknown"
    flags = _first("/proc/cpuinfo", "flags").split()
    return f"{out or 'none'}" + (", on a hypervisor (virtual CPUs)" if "hypervisor" in flags else "")


def machine_table() -> Table:
    table = Table(["Machine", ""])
    table.add("CPU", _first("/proc/cpuinfo", "model name"))
    table.add("Cores (logical)", os.cpu_count() or "unknown")
    table.add("Virtualisation", _virtualised())
    table.add("RAM", _ram())
    table.add("OS", _os_name())
    table.add("Python", f"{platform.python_implementation()} {sys.version.split()[0]}")
    table.add("Database servers", f"{_postgres()}, SQLite {__import__('sqlite3').sqlite_version}")
    table.add("Redis", _redis())
    table.add("Date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return table


def machine_markdown() -> str:
    return "## Machine\n\n" + machine_table().markdown()


if __name__ == "__main__":
    print(machine_markdown())
