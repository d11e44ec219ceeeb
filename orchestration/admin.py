"""Operators edit desired here; the change goes through the service, so clients get the events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from orchestra_site.admin_support import ServiceAdmin, field_check
from orchestration import services
from orchestration.models import Totals, Workspace
from orchestration.paths import normalize_workspace_id


class WorkspaceForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["path", "desired"]

    def clean_path(self) -> str:
        return field_check(lambda: normalize_workspace_id(self.cleaned_data["path"], field="path"), field="path")

    def clean_desired(self) -> int:
        desired = self.cleaned_data["desired"]
        return field_check(
            lambda: services.validate_count(desired, field="desired", maximum=settings.MAX_DESIRED), field="desired"
        )


@admin.register(Workspace)
class WorkspaceAdmin(ServiceAdmin):
    form = WorkspaceForm
    list_display = ["path", "running", "desired", "touched_at", "pinned"]
    search_fields = ["path"]
    ordering = ["path"]
    fields = ["path", "desired", "running", "hub_running", "pinned", "touched_at", "created_at", "version"]
    readonly_fields = ["running", "hub_running", "pinned", "touched_at", "created_at", "version"]

    def get_readonly_fields(self, request: HttpRequest, obj: Workspace | None = None) -> list[str]:
        return [*self.readonly_fields, "path"] if obj else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Workspace, form: Any, change: bool) -> None:
        state, _ = services.workspace_set_desired(path=obj.path, desired=obj.desired)
        obj.pk = Workspace.objects.get(path=state.path).pk

    def delete_model(self, request: HttpRequest, obj: Workspace) -> None:
        services.workspace_delete(path=obj.path)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for path in queryset.values_list("path", flat=True):
            services.workspace_delete(path=path)


@admin.register(Totals)
class TotalsAdmin(admin.ModelAdmin):
    list_display = ["running", "desired", "version"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
