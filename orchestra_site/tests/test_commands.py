from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orchestra_site.models import ApiKey

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_a_key_that_works_once_and_stores_its_hash() -> None:
    out = StringIO()
    call_command("create_api_key", "laptop", stdout=out, stderr=StringIO())
    raw_key = out.getvalue().strip()
    key = ApiKey.objects.for_raw_key(raw_key)
    assert key is not None and key.name == "laptop"
    assert not ApiKey.objects.filter(key_hash=raw_key).exists()


def test_create_api_key_refuses_a_duplicate_name() -> None:
    call_command("create_api_key", "laptop", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_key", "laptop", stdout=StringIO(), stderr=StringIO())
