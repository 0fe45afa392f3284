"""The account id: asked of STS once per access key and endpoint, then read from the cache on disk."""
from __future__ import annotations

import pytest
from moto import mock_aws

from provisioner.aws.session import Aws


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PROVISIONER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _sts_calls(aws: Aws) -> int:
    return sum(n for (service, _), n in aws.counter.calls.items() if service == "sts")


def _aws(access_key="AKIAEXAMPLE1", endpoint=None):
    return Aws("us-east-1", endpoint_url=endpoint,
               credentials={"aws_access_key_id": access_key, "aws_secret_access_key": "secret"})


@mock_aws
def test_sts_is_asked_once_per_access_key(cache):
    first = _aws()
    assert first.account_id == "123456789012" and _sts_calls(first) == 1
    again = _aws()
    assert again.account_id == "123456789012" and _sts_calls(again) == 0
    other_key = _aws(access_key="AKIAEXAMPLE2")
    assert other_key.account_id == "123456789012" and _sts_calls(other_key) == 1


@mock_aws
def test_another_endpoint_or_a_damaged_entry_asks_again(cache):
    assert _aws().account_id
    other_endpoint = _aws(endpoint="http://127.0.0.1:1")
    assert other_endpoint._known_account() != _aws()._known_account()
    for entry in (cache / "accounts").iterdir():
        entry.write_text("not an account")
    damaged = _aws()
    assert damaged.account_id == "123456789012" and _sts_calls(damaged) == 1
    assert _sts_calls(_aws()) == 0 and _aws().account_id == "123456789012"
