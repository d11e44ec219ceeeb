"""The console's workspaces page (``/console/``): every workspace with its setpoint and the totals."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from orchestra_site.console.access import console_page
from orchestration import selectors


@console_page
def workspaces(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/workspaces.html",
        {
            "workspaces": selectors.workspace_list(),
            "totals": selectors.global_state(),
            "max_desired": settings.MAX_DESIRED,
            "section": "workspaces",
        },
    )


urlpatterns = [path("", workspaces, name="console-workspaces")]
