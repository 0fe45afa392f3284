"""Secrets: the calls of a create, of each update and of a delete, on fake state."""
from botocore.stub import Stubber

from provisioner.services.base import OwnedResource
from tests.planner.conftest import From, shown

SPEC = """
version: 1
project: shop
environment: dev
secrets:
  api-key:
    description: the partner's key
    generate: {length: 32, exclude_characters: "/"}
    recovery_window_days: 7
"""
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop-dev-api-key-AbCdEf"
TAGS = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:project": "shop",
        "provisioner:environment": "dev", "provisioner:resource": "secrets.api-key",
        "provisioner:recovery-window-days": "7"}


def in_sync(state) -> dict:
    return dict(state.desired("secrets.api-key"))


def test_create_generates_the_value_then_creates_the_secret_with_it_and_the_tags(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("secrets.api-key")) == [
        ("secretsmanager:GetRandomPassword", {"PasswordLength": 32, "ExcludePunctuation": False,
                                              "ExcludeCharacters": "/"}),
        ("secretsmanager:CreateSecret", {
            "Name": "shop-dev-api-key", "Tags": [{"Key": k, "Value": v} for k, v in sorted(TAGS.items())],
            "Description": "the partner's key", "SecretString": From("GetRandomPassword")})]


def test_a_secret_scheduled_for_deletion_is_restored_before_its_description_is_set(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "deletion_date": "2026-12-01T00:00:00", "description": "old"}
    assert shown(state.updates("secrets.api-key", actual, {"arn": ARN})) == [
        ("secretsmanager:RestoreSecret", {"SecretId": ARN}),
        ("secretsmanager:UpdateSecret", {"SecretId": ARN, "Description": "the partner's key"})]


def test_a_key_removed_goes_back_to_the_aws_managed_key(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "kms_key": "arn:aws:kms:us-east-1:123456789012:key/k1"}
    assert shown(state.updates("secrets.api-key", actual, {"arn": ARN})) == [
        ("secretsmanager:UpdateSecret", {"SecretId": ARN, "KmsKeyId": "alias/aws/secretsmanager"})]


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**TAGS, "stray": "x", "provisioner:recovery-window-days": "30"}}
    assert shown(state.updates("secrets.api-key", actual, {"arn": ARN})) == [
        ("secretsmanager:UntagResource", {"SecretId": ARN, "TagKeys": ["stray"]}),
        ("secretsmanager:TagResource", {"SecretId": ARN,
                                        "Tags": [{"Key": "provisioner:recovery-window-days", "Value": "7"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("secrets.api-key", in_sync(state), {"arn": ARN}) == []


def test_delete_schedules_the_deletion_with_the_window_of_its_tag(fake_state):
    state = fake_state(SPEC)
    with Stubber(state.ctx.client("secretsmanager")) as stub:
        stub.add_response("describe_secret", {"ARN": ARN, "Name": "shop-dev-api-key",
                                              "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()]},
                          {"SecretId": ARN})
        [operation] = state.deletes("secrets", OwnedResource("secrets", "secrets.api-key", "shop-dev-api-key", ARN))
    assert (str(operation), operation.params) == ("secretsmanager:DeleteSecret",
                                                  {"SecretId": ARN, "RecoveryWindowInDays": 7})
    assert operation.missing_ok


def test_a_secret_already_scheduled_for_deletion_is_not_deleted_again(fake_state):
    state = fake_state(SPEC)
    with Stubber(state.ctx.client("secretsmanager")) as stub:
        stub.add_response("describe_secret", {"ARN": ARN, "Name": "shop-dev-api-key",
                                              "DeletedDate": "2026-12-01T00:00:00Z"}, {"SecretId": ARN})
        assert state.deletes("secrets", OwnedResource("secrets", "secrets.api-key", "shop-dev-api-key", ARN)) == []
