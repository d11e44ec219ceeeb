"""The console's projects page: every project with its node counts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from orchestra_site.console.access import console_page
from projects import selectors


@console_page
def projects(request: HttpRequest) -> HttpResponse:
    return render(request, "console/projects.html", {"projects": selectors.project_list(), "section": "projects"})


urlpatterns = [path("projects", projects, name="console-projects")]
