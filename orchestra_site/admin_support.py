"""What every admin page of the hub shares: service refusals become form errors, never a 500.

Admin forms check each field with the same function the service uses (``field_check``), so a
refused value is an error on its field with the form kept. Whatever a service still refuses at
save time (a race with another writer) is caught by ``ServiceAdmin`` and shown as a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from orchestra_site.api.exceptions import HubError

T = TypeVar("T")


def error_text(exc: HubError | ValidationError, field: str) -> str:
    """The message without its ``field:`` prefix (the form shows it on the field)."""
    if isinstance(exc, HubError):
        text = exc.detail
    elif hasattr(exc, "error_dict"):
        text = "; ".join(message for messages_ in exc.message_dict.values() for message in messages_)
    else:
        text = "; ".join(exc.messages)
    return text.removeprefix(f"{field}: ")


def field_check(check: Callable[[], T], *, field: str) -> T:
    """Run a service's check for one form field; its refusal becomes that field's error."""
    try:
        return check()
    except (HubError, ValidationError) as exc:
        raise ValidationError(error_text(exc, field)) from None


class ServiceAdmin(admin.ModelAdmin):
    """A model admin whose saves and deletes go through services that may refuse."""

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except (HubError, ValidationError) as exc:
            return self._refused(request, exc)

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().delete_view(request, *args, **kwargs)
        except (HubError, ValidationError) as exc:
            return self._refused(request, exc)

    def _refused(self, request: HttpRequest, exc: HubError | ValidationError) -> HttpResponse:
        self.message_user(request, f"Not saved: {error_text(exc, '')}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())
