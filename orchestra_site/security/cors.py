"""django-cors-headers, with the two things the desktop app's API adds.

- A preflight from an origin that is not allowed answers 400 (django-cors-headers answers 200
  without CORS headers; the browser refuses either way, but the API documents 400).
- ``CORS_ALLOW_HEADERS = ["*"]`` echoes the requested headers: a literal ``*`` is not a wildcard
  for requests made with credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from corsheaders import middleware as cors
from corsheaders.conf import conf
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from orchestra_site.api.exceptions import error_body


class CorsMiddleware(cors.CorsMiddleware):
    def check_preflight(self, request: HttpRequest) -> HttpResponseBase | None:
        response = super().check_preflight(request)
        origin = request.headers.get("origin")
        if response is not None and origin and not self.origin_allowed(request, origin):
            return JsonResponse(error_body("Disallowed CORS origin"), status=400)
        return response

    def add_response_headers(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response = super().add_response_headers(request, response)
        requested = request.headers.get("access-control-request-headers")
        if requested and "*" in conf.CORS_ALLOW_HEADERS and cors.ACCESS_CONTROL_ALLOW_HEADERS in response:
            response[cors.ACCESS_CONTROL_ALLOW_HEADERS] = requested
        return response

    def origin_allowed(self, request: HttpRequest, origin: str) -> bool:
        try:
            url = urlsplit(origin)
        except ValueError:
            return False
        if conf.CORS_ALLOW_ALL_ORIGINS or self.origin_found_in_white_lists(origin, url):
            return True
        return self.check_signal(request)
