"""Every error the hub answers is JSON ``{"detail": "...", "message": "..."}``: 400, 401, 404, 405
and 500 alike. ``message`` repeats ``detail`` for clients written against NestJS servers (the VSCode
extension), which show ``message``.

Validation errors are 400 with a *string* detail that names the field (``title: This field is
required.``), as the desktop contract decides; the per-field errors also go under ``errors``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from orchestra_site.api.exceptions import HubError, TooBusy, error_body
from orchestra_site.outages import TRANSIENT

logger = logging.getLogger(__name__)
# Pages for people, whose 404 stays an HTML page: the admin and the web console.
HTML_PATHS = ("/admin/", "/console/")


def flatten_errors(errors: Any, prefix: str = "") -> list[str]:
    """``{"a": {"b": ["bad"]}}`` -> ``["a.b: bad"]``; list positions become ``a[0]``."""
    if isinstance(errors, dict):
        lines: list[str] = []
        for key, value in errors.items():
            name = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            lines.extend(flatten_errors(value, name))
        return lines
    if isinstance(errors, list):
        if all(not isinstance(item, (dict, list)) for item in errors):
            return [f"{prefix}: {item}" if prefix else str(item) for item in errors]
        lines = []
        for index, item in enumerate(errors):
            if item:
                lines.extend(flatten_errors(item, f"{prefix}[{index}]"))
        return lines
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def unavailable(exc: Exception) -> tuple[dict[str, Any], int, dict[str, str]] | None:
    """A database that is restarting, unreachable, full or busy past its lock timeout is not the
    client's fault nor a bug: 503 (507 for a full disk) with Retry-After, and nothing was written
    (the request's transaction rolled back)."""
    if not isinstance(exc, TRANSIENT):
        return None
    text = str(exc)
    if "disk is full" in text or "No space left" in text or "could not extend file" in text:
        return error_body("The hub's disk is full: nothing was written. Free space and retry."), 507, {}
    detail = "The database is unavailable (restarting, unreachable or busy): nothing was written. Retry shortly."
    return error_body(detail), 503, {"Retry-After": "2"}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("Request body too large."), status=413)
    if (answer := unavailable(exc)) is not None:
        body, code, headers = answer
        logger.warning("%s: %s", type(exc).__name__, exc)  # the operator sees what the database said
        return Response(body, status=code, headers=headers)
    if isinstance(exc, HubError):
        retry = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooBusy) else None
        extra = getattr(exc, "extra", None) or {}
        return Response(error_body(exc.detail, **extra), status=exc.status, headers=retry)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = drf_exceptions.ValidationError(errors)
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail
        return Response(
            error_body("; ".join(flatten_errors(detail)) or "Invalid input.", errors=detail),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return Response(error_body("Method Not Allowed"), status=405)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = error_body(str(response.data["detail"]))
    return response


class JsonErrorMiddleware:
    """Answer JSON for failures outside DRF's views: unknown routes and unhandled exceptions."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and not _is_json(response) and not request.path.startswith(HTML_PATHS):
            return JsonResponse(error_body("Not Found"), status=404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith(HTML_PATHS):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body("Request body too large."), status=413)
        if (answer := unavailable(exception)) is not None:
            body, code, headers = answer
            logger.warning("%s %s: %s", request.method, request.path, exception)
            return JsonResponse(body, status=code, headers=headers)
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return JsonResponse(error_body("Internal Server Error"), status=500)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
