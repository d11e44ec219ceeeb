"""What the console's pages share beyond access: sign in and out, and where ``/`` sends a browser.

The pages themselves live with the app whose data they show (``orchestration/console.py``,
``projects/console.py``, ``agents/console.py``), server-rendered from that app's selectors and made
live by small scripts; the URL table puts them together under ``/console/``.
"""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from orchestra_site.api.exceptions import error_body


def root(request: HttpRequest) -> HttpResponse:
    """A browser (a request that prefers HTML) goes to the console; API clients keep the JSON 404."""
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        return redirect("console-workspaces")
    return JsonResponse(error_body("Not Found"), status=404)


class ConsoleLoginView(auth_views.LoginView):
    """The admin's users (staff) sign in here when the hub does not trust the request's origin."""

    template_name = "console/login.html"
    authentication_form = AdminAuthenticationForm
    redirect_authenticated_user = False

    def get_default_redirect_url(self) -> str:
        return reverse("console-workspaces")


class ConsoleLogoutView(auth_views.LogoutView):
    next_page = "console-login"
