"""How every app puts its viewsets on URLs: the desktop contract's paths have no trailing slash, and
an id in a path is a positive number that fits a 64-bit column.

``DB_ID`` is that id as a regex (18 digits at most, so SQLite never overflows); anything else
(``abc``, ``-1``, a 30-digit number) matches no route and is the JSON 404. ``MAX_DB_ID`` is the
largest id a body may name. A nested resource (a project's nodes) is registered on a router whose
prefix holds its parent's id: ``router.register(rf"projects/(?P<pid>{DB_ID})/nodes", NodeViewSet)``.
"""

from __future__ import annotations

from django.urls import register_converter
from rest_framework.routers import SimpleRouter

MAX_DB_ID = 2**63 - 1
DB_ID = "[0-9]{1,18}"


class DatabaseIdConverter:
    """``<dbid:name>`` in a plain ``path()``: the same id rule for the few routes outside a router."""

    regex = DB_ID

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DatabaseIdConverter, "dbid")


class HubRouter(SimpleRouter):
    """``SimpleRouter`` without trailing slashes whose lookups accept only database ids."""

    def __init__(self) -> None:
        super().__init__(trailing_slash=False)

    def get_lookup_regex(self, viewset: type, lookup_prefix: str = "") -> str:
        lookup_field = getattr(viewset, "lookup_field", "pk")
        lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or lookup_field
        lookup_value = getattr(viewset, "lookup_value_regex", DB_ID)
        return f"(?P<{lookup_prefix}{lookup_url_kwarg}>{lookup_value})"
