"""Benchmarks of Orchestra Hub against real ``manage.py serve`` processes.

``python -m bench`` runs them all and writes ``docs/benchmarks.md``; ``python -m bench NAME ...``
runs some of them and replaces only their sections of that file. Speed is measured here, never in
the tests.
"""
