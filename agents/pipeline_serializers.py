"""Request and response shapes of the pipeline endpoints (launch-pipeline, synthesis, feedback,
needs-review); each response serializer is also the OpenAPI schema of its answer."""

from __future__ import annotations

from rest_framework import serializers

from agents.fields import StrictBooleanField, StrictCharField, id_field

TEXT_MAX = 20_000


class PipelineLaunchSerializer(serializers.Serializer):
    """PipelineLaunchRequest; an empty or missing body is ``{}``."""

    use_default_pipeline = StrictBooleanField(required=False, default=True)
    custom_pipeline_id = id_field(required=False, allow_null=True, default=None)
    create_worktree = StrictBooleanField(required=False, default=False)

    def validate_use_default_pipeline(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError("this hub has only its default pipeline; send true or leave it out.")
        return value

    def validate_custom_pipeline_id(self, value: int | None) -> int | None:
        if value is not None:
            raise serializers.ValidationError("custom pipelines do not exist on this hub; send null or leave it out.")
        return value


class PipelineLaunchResponseSerializer(serializers.Serializer):
    execution_id = serializers.IntegerField()
    node_id = serializers.IntegerField()
    status = serializers.CharField()
    message = serializers.CharField()


class SynthesisQuestionsSerializer(serializers.Serializer):
    node_id = serializers.IntegerField()
    node_title = serializers.CharField()
    execution_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    agreements = serializers.ListField(child=serializers.CharField())
    conflicts = serializers.ListField(child=serializers.CharField())
    questions = serializers.ListField(child=serializers.CharField())
    final_plan = serializers.CharField(allow_blank=True)


class FeedbackSerializer(serializers.Serializer):
    """FeedbackSubmission; ``approved`` defaults to true, as the contract says."""

    answers = serializers.DictField(child=StrictCharField(max_length=TEXT_MAX), required=False, default=dict)
    notes = StrictCharField(required=False, allow_null=True, default=None, max_length=TEXT_MAX)
    approved = StrictBooleanField(required=False, default=True)


class FeedbackResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    message = serializers.CharField()
    node_id = serializers.IntegerField()
    execution_id = serializers.IntegerField()
