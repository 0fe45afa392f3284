"""Log groups: the calls of a create, of each update and of a delete, on fake state."""
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
log_groups:
  audit: {retention_days: 30}
"""
NAME = "shop-dev-audit"
ARN = f"arn:aws:logs:us-east-1:123456789012:log-group:{NAME}"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": "log_groups.audit"}


def in_sync(state) -> dict:
    return dict(state.desired("log_groups.audit"))


def test_create_is_the_group_with_its_tags_then_its_retention(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("log_groups.audit")) == [
        ("logs:CreateLogGroup", {"logGroupName": NAME, "tags": OWNERSHIP, "logGroupClass": "STANDARD"}),
        ("logs:PutRetentionPolicy", {"logGroupName": NAME, "retentionInDays": 30})]


def test_a_retention_change_is_one_put_retention_policy(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "retention_days": 7}
    assert shown(state.updates("log_groups.audit", actual, {"arn": ARN})) == [
        ("logs:PutRetentionPolicy", {"logGroupName": NAME, "retentionInDays": 30})]


def test_a_key_no_longer_wanted_is_disassociated(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "kms_key": "arn:aws:kms:us-east-1:123456789012:key/old"}
    assert shown(state.updates("log_groups.audit", actual, {"arn": ARN})) == [
        ("logs:DisassociateKmsKey", {"logGroupName": NAME})]


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates("log_groups.audit", actual, {"arn": ARN})) == [
        ("logs:UntagResource", {"resourceArn": ARN, "tagKeys": ["stray"]}),
        ("logs:TagResource", {"resourceArn": ARN, "tags": {"Project": "shop"}})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("log_groups.audit", in_sync(state), {"arn": ARN}) == []


def test_delete_is_one_call_that_accepts_a_group_already_gone(fake_state):
    state = fake_state(SPEC)
    [operation] = state.deletes("log_groups", OwnedResource("log_groups", "log_groups.audit", NAME, ARN))
    assert (str(operation), operation.params, operation.missing_ok) == (
        "logs:DeleteLogGroup", {"logGroupName": NAME}, True)
