"""Operators edit desired here; the change goes through the service, so clients get the events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from orchestration import services
from orchestration.models import Totals, Workspace


class WorkspaceForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["path", "desired"]

    def clean_desired(self) -> int:
        try:
            return services.validate_count(self.cleaned_data["desired"], field="desired", maximum=settings.MAX_DESIRED)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["desired"]) from None


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    form = WorkspaceForm
    list_display = ["path", "running", "desired", "touched_at", "pinned"]
    search_fields = ["path"]
    ordering = ["path"]
    fields = ["path", "desired", "running", "pinned", "touched_at", "created_at", "version"]
    readonly_fields = ["running", "pinned", "touched_at", "created_at", "version"]

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
