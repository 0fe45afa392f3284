"""KMS keys: the calls of a create, of each update and of a delete, on fake state."""
import json

from botocore.stub import Stubber

from provisioner.services.base import OwnedResource
from tests.planner.conftest import From, shown

SPEC = """
version: 1
project: shop
environment: dev
kms_keys:
  data: {description: orders data, deletion_window_days: 10}
"""
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:us-east-1:123456789012:key/{KEY}"
TAGS = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:project": "shop",
        "provisioner:environment": "dev", "provisioner:resource": "kms_keys.data",
        "provisioner:deletion-window-days": "10"}
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "AccountRootAdministers", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
     "Action": "kms:*", "Resource": "*"}]}


def in_sync(state) -> dict:
    return dict(state.desired("kms_keys.data"))


def test_create_is_the_key_with_its_policy_and_tags_then_rotation_then_the_alias(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("kms_keys.data")) == [
        ("kms:CreateKey", {"Description": "orders data", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
                           "Policy": json.dumps(POLICY, separators=(",", ":")),
                           "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(TAGS.items())]}),
        ("kms:EnableKeyRotation", {"KeyId": From("CreateKey"), "RotationPeriodInDays": 365}),
        ("kms:CreateAlias", {"AliasName": "alias/shop-dev-data", "TargetKeyId": From("CreateKey")})]


def test_a_key_pending_deletion_is_cancelled_and_enabled(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "key_state": "PendingDeletion"}
    assert shown(state.updates("kms_keys.data", actual, {"id": KEY})) == [
        ("kms:CancelKeyDeletion", {"KeyId": KEY}), ("kms:EnableKey", {"KeyId": KEY})]


def test_a_new_description_and_a_lost_alias_are_written_in_the_declared_order(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "description": "old", "alias": None}
    assert shown(state.updates("kms_keys.data", actual, {"id": KEY})) == [
        ("kms:UpdateKeyDescription", {"KeyId": KEY, "Description": "orders data"}),
        ("kms:CreateAlias", {"AliasName": "alias/shop-dev-data", "TargetKeyId": KEY})]


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**TAGS, "stray": "x", "provisioner:deletion-window-days": "7"}}
    assert shown(state.updates("kms_keys.data", actual, {"id": KEY})) == [
        ("kms:UntagResource", {"KeyId": KEY, "TagKeys": ["stray"]}),
        ("kms:TagResource", {"KeyId": KEY, "Tags": [{"TagKey": "provisioner:deletion-window-days",
                                                      "TagValue": "10"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("kms_keys.data", in_sync(state), {"id": KEY}) == []


def test_delete_removes_the_aliases_and_schedules_the_key_with_its_tagged_window(fake_state):
    state = fake_state(SPEC)
    with Stubber(state.ctx.client("kms")) as stub:
        stub.add_response("describe_key", {"KeyMetadata": {"KeyId": KEY, "Arn": ARN, "KeyState": "Enabled"}},
                          {"KeyId": KEY})
        stub.add_response("list_resource_tags", {"Tags": [{"TagKey": k, "TagValue": v} for k, v in TAGS.items()]},
                          {"KeyId": KEY})
        stub.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/shop-dev-data"}]}, {"KeyId": KEY})
        operations = state.deletes("kms_keys", OwnedResource("kms_keys", "kms_keys.data", KEY, ARN))
    assert shown(operations) == [("kms:DeleteAlias", {"AliasName": "alias/shop-dev-data"}),
                                 ("kms:ScheduleKeyDeletion", {"KeyId": KEY, "PendingWindowInDays": 10})]
    assert operations[0].missing_ok
