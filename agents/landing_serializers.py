"""The shapes of an execution's review and landing (``agents.services.diffs`` and ``.landing``)."""

from __future__ import annotations

from rest_framework import serializers

from agents.fields import StrictCharField
from projects.serializers import ErrorSerializer

MAX_MESSAGE = 10_000


class DiffQuerySerializer(serializers.Serializer):
    path = StrictCharField(required=False, max_length=4096, help_text="One file's patch only.")


class DiffBaseSerializer(serializers.Serializer):
    ref = serializers.CharField(allow_null=True, help_text="The branch checked out when the execution started.")
    commit = serializers.CharField(help_text="The commit it started from.")


class DiffHeadSerializer(serializers.Serializer):
    branch = serializers.CharField(allow_null=True)
    commit = serializers.CharField(help_text="The branch's last commit; uncommitted work comes on top.")


class DiffFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    old_path = serializers.CharField(allow_null=True, help_text="Set for a rename.")
    status = serializers.ChoiceField(choices=["added", "modified", "deleted", "renamed"])
    binary = serializers.BooleanField()
    additions = serializers.IntegerField()
    deletions = serializers.IntegerField()


class DiffStatsSerializer(serializers.Serializer):
    files = serializers.IntegerField()
    additions = serializers.IntegerField()
    deletions = serializers.IntegerField()


class DiffSerializer(serializers.Serializer):
    base = DiffBaseSerializer()
    head = DiffHeadSerializer()
    files = DiffFileSerializer(many=True)
    stats = DiffStatsSerializer()
    patch = serializers.CharField(help_text="Unified diff, cut at ORCHESTRA_DIFF_MAX_BYTES (then truncated).")
    truncated = serializers.BooleanField()


class MergeInputSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=["merge", "squash", "rebase"])
    message = StrictCharField(required=False, max_length=MAX_MESSAGE, allow_blank=False)


class MergeSerializer(serializers.Serializer):
    target = serializers.CharField()
    commit = serializers.CharField()
    strategy = serializers.CharField()


class MergeConflictSerializer(ErrorSerializer):
    """A 409: why nothing was changed, and for a conflict the files that conflict."""

    conflicts = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="The paths that conflict (or are in the way)."
    )


class PushInputSerializer(serializers.Serializer):
    remote = StrictCharField(
        required=False, default="origin", max_length=100, help_text="A remote's name configured in the repository."
    )


class PushSerializer(serializers.Serializer):
    remote = serializers.CharField()
    branch = serializers.CharField()


class PullRequestInputSerializer(serializers.Serializer):
    title = StrictCharField(required=False, max_length=256, allow_blank=False)
    body = StrictCharField(required=False, max_length=65_536, allow_blank=True)


class PullRequestSerializer(serializers.Serializer):
    url = serializers.CharField()
