"""Who may see the console: the same loopback trust as the API, otherwise a staff login.

A visitor without access is sent to the login page before any data is read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from orchestra_site.api.exceptions import NotFound
from orchestra_site.security.auth import request_trusted_loopback

View = Callable[..., HttpResponse]


def console_access_allowed(request: HttpRequest) -> bool:
    if request_trusted_loopback(request):  # as the API's loopback authentication reads it
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def console_page(view: View) -> View:
    """Decorate a console view: without access, the login page (never the page's data); a
    missing object is the console's HTML 404 rather than the API's JSON one."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not console_access_allowed(request):
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            return render(request, "404.html", status=404)

    return guarded
