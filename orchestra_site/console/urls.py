"""Sign in and out of the web console; the pages come from the apps (see ``orchestra_site/urls.py``)."""

from __future__ import annotations

from django.urls import path

from orchestra_site.console import views

urlpatterns = [
    path("login", views.ConsoleLoginView.as_view(), name="console-login"),
    path("logout", views.ConsoleLogoutView.as_view(), name="console-logout"),
]
