"""Operators edit templates and their steps, and watch (and cancel) executions.

Executions and step runs are read-only here: their state belongs to the runner, and cancelling
goes through ``execution_cancel`` so the same events go out and the runner stops the processes.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from agents.environment import validate_template_metadata
from agents.models import AgentStep, AgentTemplate, Execution, StepEdge, StepRun
from agents.services.executions import execution_cancel
from orchestra_site.admin_support import ServiceAdmin, field_check
from orchestra_site.api.exceptions import HubError


class MetadataForm(forms.ModelForm):
    """Template and step metadata pass the API's check (``metadata.env`` carries no code)."""

    def clean_metadata(self) -> Any:
        metadata = self.cleaned_data.get("metadata")
        field_check(lambda: validate_template_metadata(metadata), field="metadata")
        return metadata


class AgentStepInline(admin.StackedInline):
    model = AgentStep
    form = MetadataForm
    extra = 0
    fields = [
        ("name", "agent_type", "output_format"),
        "prompt_template",
        ("model_version", "thinking_budget", "reasoning_level"),
        ("position_x", "position_y"),
        "metadata",
    ]


class StepEdgeInline(admin.TabularInline):
    model = StepEdge
    extra = 0
    fields = ["parent", "child"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Only the steps of the template being edited can be linked.
        template_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if db_field.name in ("parent", "child"):
            kwargs["queryset"] = AgentStep.objects.filter(template_id=template_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(AgentTemplate)
class AgentTemplateAdmin(ServiceAdmin):
    form = MetadataForm
    list_display = ["id", "name", "step_count", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [AgentStepInline, StepEdgeInline]

    @admin.display(description="steps")
    def step_count(self, obj: AgentTemplate) -> int:
        return obj.steps.count()


class StepRunInline(admin.TabularInline):
    model = StepRun
    fk_name = "execution"
    extra = 0
    can_delete = False
    fields = ("name", "agent_type", "status", "exit_code", "duration_ms", "cost_usd", "started_at", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Execution)
class ExecutionAdmin(ServiceAdmin):
    list_display = ["id", "project", "node", "template", "status", "queued", "created_at", "finished_at"]
    list_filter = ["status", "queued"]
    search_fields = ["id", "project__name", "template__name"]
    readonly_fields = [f.name for f in Execution._meta.fields]
    inlines = [StepRunInline]
    actions = ["cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel the selected executions")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        cancelled = 0
        for execution_id, project_id in queryset.values_list("pk", "project_id"):
            try:
                execution_cancel(project_id=project_id, execution_id=execution_id)
                cancelled += 1
            except HubError as error:
                self.message_user(request, f"Execution {execution_id}: {error.detail}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} execution(s).")


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    list_display = ["id", "execution", "name", "agent_type", "status", "crashed", "started_at", "finished_at"]
    list_filter = ["status", "agent_type", "crashed"]
    readonly_fields = [f.name for f in StepRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
