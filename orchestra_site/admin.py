from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from orchestra_site.models import ApiKey, HubProcess


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if not change:
            raw_key = ApiKey.generate_raw_key()
            obj.set_raw_key(raw_key)
            messages.warning(request, f"The new key is {raw_key} — copy it now, it is not shown again.")
        super().save_model(request, obj, form, change)


@admin.register(HubProcess)
class HubProcessAdmin(admin.ModelAdmin):
    list_display = ["kind", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at"]
    readonly_fields = ["kind", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at"]
