"""Chaos tests (``make chaos``): real hub processes on a private PostgreSQL while it restarts."""
