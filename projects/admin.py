"""Operators see projects with their workspace, nodes with their parents, and tasks.

Saves and deletes go through ``projects.services``, so the admin checks the same DAG rules and
sends the same events as the API.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework import serializers

from orchestra_site.admin_support import ServiceAdmin, field_check
from orchestra_site.api.errors import flatten_errors
from orchestra_site.api.exceptions import HubError
from projects import services
from projects.models import HOOK_FIELDS, Deliverable, HookNode, Node, NodeType, Project, Task
from projects.serializers import ExpectedDeliverablesInputField
from projects.services.graph import NODE_FIELDS
from projects.workspaces import validate_workspace_path


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "workspace_path", "worktree_by_default"]

    def clean_workspace_path(self) -> str:
        value = self.cleaned_data.get("workspace_path") or ""
        if not value:
            return value  # the service gives the project its default folder
        check = partial(validate_workspace_path, value, project_id=self.instance.pk)
        return str(field_check(check, field="workspace_path"))


@admin.register(Project)
class ProjectAdmin(ServiceAdmin):
    form = ProjectAdminForm
    list_display = ["id", "name", "workspace_path", "created_at"]
    search_fields = ["name", "workspace_path"]
    fields = ["name", "description", "workspace_path", "worktree_by_default", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        path = obj.workspace_path or None
        if change:
            services.project_update(
                project_id=obj.pk,
                changes={
                    "name": obj.name,
                    "description": obj.description,
                    "workspace_path": path,  # type: ignore[typeddict-item]
                    "worktree_by_default": obj.worktree_by_default,
                },
            )
        else:
            obj.pk = services.project_create(
                name=obj.name,
                description=obj.description,
                workspace_path=path,
                worktree_by_default=obj.worktree_by_default,
            ).pk

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(project_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project_id in queryset.values_list("pk", flat=True):
            services.project_delete(project_id=project_id)


class NodeAdminForm(forms.ModelForm):
    parent_nodes = forms.ModelMultipleChoiceField(queryset=Node.objects.all(), required=False, label="Parents")

    class Meta:
        model = Node
        fields = ["project", *NODE_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["project"].disabled = True
            parents = self.fields["parent_nodes"]
            assert isinstance(parents, forms.ModelMultipleChoiceField)
            parents.queryset = Node.objects.filter(project_id=self.instance.project_id)
            self.initial["parent_nodes"] = list(self.instance.parents.values_list("pk", flat=True))

    def clean_node_type(self) -> str:
        return self.cleaned_data.get("node_type") or NodeType.TASK

    def clean_expected_deliverables(self) -> list[dict[str, Any]]:
        value = self.cleaned_data.get("expected_deliverables")
        if value is None:
            return []
        try:
            return ExpectedDeliverablesInputField().to_internal_value(value)
        except serializers.ValidationError as exc:
            raise forms.ValidationError("; ".join(flatten_errors(exc.detail))) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        project = cleaned.get("project") or (self.instance.project if self.instance.pk else None)
        if project is not None:
            parent_ids = [node.pk for node in cleaned.get("parent_nodes") or []]
            try:
                services.node_parents_check(project_id=project.pk, node_id=self.instance.pk, parent_ids=parent_ids)
            except HubError as exc:
                raise forms.ValidationError({"parent_nodes": exc.detail}) from None
        return cleaned


@admin.register(Node)
class NodeAdmin(ServiceAdmin):
    form = NodeAdminForm
    list_display = ["id", "title", "project", "status", "agent_type", "parent_list"]
    list_filter = ["status", "agent_type"]
    search_fields = ["title"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Node]:
        return super().get_queryset(request).select_related("project").prefetch_related("parents")

    @admin.display(description="Parents")
    def parent_list(self, obj: Node) -> str:
        return ", ".join(str(parent.pk) for parent in obj.parents.all()) or "-"

    def save_model(self, request: HttpRequest, obj: Node, form: Any, change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in form.Meta.fields if field != "project"}
        parent_ids = [node.pk for node in form.cleaned_data["parent_nodes"]]
        if change:
            changes = {**data, "parent_ids": parent_ids}
            services.node_update(project_id=obj.project_id, node_id=obj.pk, changes=changes)  # type: ignore[arg-type]
        else:
            obj.pk = services.node_create(project_id=obj.project_id, parent_ids=parent_ids, **data).pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None  # parents were saved by the service

    def delete_model(self, request: HttpRequest, obj: Node) -> None:
        services.node_delete(project_id=obj.project_id, node_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        for project_id, node_id in queryset.values_list("project_id", "pk"):
            services.node_delete(project_id=project_id, node_id=node_id)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "project", "node", "priority", "completed", "due_date"]
    list_filter = ["completed"]
    search_fields = ["title"]
    list_select_related = ["project", "node"]
    raw_id_fields = ["project", "node"]


@admin.register(Deliverable)
class DeliverableAdmin(ServiceAdmin):
    # Created and changed through the services: the same checks, and deliverable.created on add.
    list_display = ["id", "name", "type", "status", "node", "execution", "created_at"]
    list_filter = ["status", "type"]
    search_fields = ["name"]
    list_select_related = ["node"]
    raw_id_fields = ["node", "execution"]
    fields = ["node", "execution", "type", "name", "status", "content", "validation_errors", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Deliverable | None = None) -> list[str]:
        fixed = ["node", "execution", "type", "name"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Deliverable, form: Any, change: bool) -> None:
        if change:
            changes = services.DeliverableChanges(
                content=obj.content, status=obj.status, validation_errors=obj.validation_errors
            )
            services.deliverable_update(deliverable=obj, changes=changes)
        else:
            obj.pk = services.deliverable_create(
                node=obj.node,
                type=obj.type,
                name=obj.name,
                content=obj.content,
                status=obj.status,
                execution_id=obj.execution_id,
            ).pk

    def delete_model(self, request: HttpRequest, obj: Deliverable) -> None:
        services.deliverable_delete(deliverable=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Deliverable]) -> None:
        for deliverable in queryset:
            services.deliverable_delete(deliverable=deliverable)


@admin.register(HookNode)
class HookNodeAdmin(ServiceAdmin):
    # Saved through the services: rules checked as regular expressions, the node made a hook node.
    list_display = ["id", "name", "node", "trigger", "action", "requires_human_approval", "max_retries"]
    list_filter = ["trigger", "action"]
    search_fields = ["name"]
    list_select_related = ["node"]
    raw_id_fields = ["node"]
    fields = ["node", *HOOK_FIELDS, "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: HookNode | None = None) -> list[str]:
        return ["node", *self.readonly_fields] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: HookNode, form: Any, change: bool) -> None:
        values = {name: getattr(obj, name) for name in HOOK_FIELDS}
        if change:
            services.hook_update(project_id=obj.node.project_id, node_id=obj.node_id, changes=values)  # type: ignore[arg-type]
        else:
            obj.pk = services.hook_create(project_id=obj.node.project_id, node_id=obj.node_id, **values).pk

    def delete_model(self, request: HttpRequest, obj: HookNode) -> None:
        services.hook_delete(project_id=obj.node.project_id, node_id=obj.node_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[HookNode]) -> None:
        for project_id, node_id in queryset.values_list("node__project_id", "node_id"):
            services.hook_delete(project_id=project_id, node_id=node_id)
