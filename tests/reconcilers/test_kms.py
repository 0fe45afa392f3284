"""KMS keys against moto in-process: quartet, drift of every managed field, repair, generated policy."""
from __future__ import annotations

import json

import pytest

from provisioner.engine.diff import ABSENT
from provisioner.policy.canonical import canonical_policy
from tests.reconcilers.helpers import assert_diff, assert_repaired, diffs_by_path, only_change, run_quartet

ACCOUNT = "123456789012"
ALIAS = "alias/shop-dev-data"
KEY = "kms_keys.data"

SPEC = """
    version: 1
    project: shop
    environment: dev
    tags:
      Owner: platform
    kms_keys:
      data:
        description: Data at rest for shop
        rotation: true
        deletion_window_days: 7
"""


@pytest.fixture
def applied(aws, write_spec, engine):
    """The key applied; returns (engine, kms client, key id)."""
    eng = engine(write_spec(SPEC))
    eng.apply()
    kms = aws("kms")
    return eng, kms, kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"]


def test_quartet(aws, write_spec, engine):
    eng = engine(write_spec(SPEC))
    run_quartet(eng)
    kms = aws("kms")
    meta = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    assert meta["Description"] == "Data at rest for shop"
    assert meta["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]}
    assert tags["provisioner:project"] == "shop"
    assert tags["provisioner:environment"] == "dev"
    assert tags["provisioner:resource"] == KEY
    assert tags["Owner"] == "platform"
    assert len(kms.list_keys()["Keys"]) == 1


def test_rotation_period_not_returned_is_warned_not_compared(applied):
    eng, _, _ = applied
    plan = eng.plan()
    assert not plan.has_changes
    assert any("rotation_period_days is not returned" in w for w in plan.warnings), plan.warnings


def test_description_drift_is_repaired(applied):
    eng, kms, key_id = applied
    kms.update_key_description(KeyId=key_id, Description="edited by hand")

    change = only_change(eng.plan(), KEY)
    assert_diff(change, "description", "edited by hand", "Data at rest for shop")
    assert set(diffs_by_path(change)) == {"description"}

    assert_repaired(eng)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "Data at rest for shop"


def test_rotation_disabled_is_repaired(applied):
    eng, kms, key_id = applied
    kms.disable_key_rotation(KeyId=key_id)

    change = only_change(eng.plan(), KEY)
    assert_diff(change, "rotation", False, True)
    assert_diff(change, "rotation_period_days", None, 365)

    assert_repaired(eng)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_key_policy_change_is_repaired(applied):
    eng, kms, key_id = applied
    original = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountRootAdministers", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:Describe*", "Resource": "*"},
            {"Sid": "Intruder", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:Decrypt", "Resource": "*"},
        ]}))

    change = only_change(eng.plan(), KEY)
    found = diffs_by_path(change)
    assert found["policy.Statement.AccountRootAdministers.Action"] == (["kms:Describe*"], ["kms:*"])
    before, after = found["policy.Statement.Intruder"]
    assert before["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root"]} and after is ABSENT

    assert_repaired(eng)
    restored = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert canonical_policy(restored) == canonical_policy(original)


def test_tag_changed_and_added_are_repaired(applied):
    eng, kms, key_id = applied
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "Owner", "TagValue": "someone-else"},
                                         {"TagKey": "Extra", "TagValue": "by-hand"}])

    change = only_change(eng.plan(), KEY)
    assert_diff(change, "tags.Owner", "someone-else", "platform")
    assert_diff(change, "tags.Extra", "by-hand", ABSENT)
    assert set(diffs_by_path(change)) == {"tags.Owner", "tags.Extra"}

    assert_repaired(eng)
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags["Owner"] == "platform"
    assert "Extra" not in tags


def test_key_scheduled_for_deletion_is_cancelled_and_enabled(applied):
    eng, kms, key_id = applied
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)

    change = only_change(eng.plan(), KEY)
    assert_diff(change, "key_state", "PendingDeletion", "Enabled")

    eng.apply()
    assert eng.calls.calls[("kms", "CancelKeyDeletion")] == 1
    assert eng.calls.calls[("kms", "EnableKey")] == 1
    assert not eng.plan().has_changes
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert "DeletionDate" not in meta
    assert len(kms.list_keys()["Keys"]) == 1


def test_disabled_key_is_enabled(applied):
    eng, kms, key_id = applied
    kms.disable_key(KeyId=key_id)

    change = only_change(eng.plan(), KEY)
    assert diffs_by_path(change) == {"key_state": ("Disabled", "Enabled")}

    assert_repaired(eng)
    assert eng.calls.calls[("kms", "CancelKeyDeletion")] == 0
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_alias_deleted_is_recreated_on_the_same_key(applied):
    eng, kms, key_id = applied
    kms.delete_alias(AliasName=ALIAS)

    change = only_change(eng.plan(), KEY)
    assert_diff(change, "alias", None, ALIAS)

    assert_repaired(eng)
    assert eng.calls.calls[("kms", "CreateKey")] == 0
    assert kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"] == key_id
    assert len(kms.list_keys()["Keys"]) == 1


def test_generated_policy_grants_root_and_the_services_that_use_the_key(aws, write_spec, engine):
    eng = engine(write_spec("""
        version: 1
        project: shop
        environment: dev
        kms_keys:
          data: {deletion_window_days: 7}
          plain: {deletion_window_days: 7}
        sqs_queues:
          orders: {kms_key: data}
        sns_topics:
          events:
            subscriptions:
              - {sqs_queue: orders}
    """))
    eng.apply()
    kms = aws("kms")

    def statements(alias):
        key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        return {s["Sid"]: s for s in json.loads(
            kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Statement"]}

    used = statements("alias/shop-dev-data")
    assert set(used) == {"AccountRootAdministers", "AllowSns"}
    root = used["AccountRootAdministers"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert root["Action"] == "kms:*"
    sns = used["AllowSns"]
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
    assert set(sns["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert sns["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}

    # a key that no service uses gets only the account root statement
    assert set(statements("alias/shop-dev-plain")) == {"AccountRootAdministers"}
    assert not eng.plan().has_changes


def test_allow_services_adds_a_statement(aws, write_spec, engine):
    eng = engine(write_spec("""
        version: 1
        project: shop
        environment: dev
        kms_keys:
          data: {deletion_window_days: 7, allow_services: [events.amazonaws.com]}
    """))
    eng.apply()
    kms = aws("kms")
    key_id = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"]
    sids = {s["Sid"] for s in json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Statement"]}
    assert sids == {"AccountRootAdministers", "AllowEvents"}
    assert not eng.plan().has_changes
