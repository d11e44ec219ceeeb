"""``GET /spend``: what each workspace's agents spent in a day, against its daily budget."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from agents import budgets
from agents import serializers as s
from orchestra_site.api.viewsets import DatabaseIdViewSet, validated


class SpendViewSet(DatabaseIdViewSet):
    @extend_schema(
        parameters=[s.SpendQuerySerializer],
        responses=s.WorkspaceSpendSerializer(many=True),
        summary="Spend per workspace for one UTC day (default today), against ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD",
    )
    def list(self, request: Request) -> Response:
        query = validated(s.SpendQuerySerializer(data=request.query_params.dict()))
        rows = budgets.spend_by_workspace(**query)
        return Response(s.WorkspaceSpendSerializer(rows, many=True).data)
