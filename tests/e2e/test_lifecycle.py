"""specs/example.yaml through its whole life with the installed CLI against a moto server."""
from __future__ import annotations

import json

from tests.e2e.conftest import ROOT, owned_arns

SPEC = ROOT / "specs" / "example.yaml"


def test_example_validates_applies_detects_drift_repairs_and_destroys(cli, boto):
    assert cli("validate", SPEC, endpoint_flag=False).code == 0

    first = cli("diff", SPEC)
    assert first.code == 2, first
    assert "5 to create" in first.out

    applied = cli("apply", SPEC, "--yes")
    assert applied.code == 0, applied
    assert "5 created" in applied.out

    in_sync = cli("diff", SPEC)
    assert in_sync.code == 0, in_sync
    assert "No changes" in in_sync.out

    second = cli("apply", SPEC, "--yes", "--output", "json")
    assert second.code == 0, second
    summary = second.json()
    assert summary["api_calls"]["writes"] == 0, summary["api_calls"]
    assert summary["api_calls"]["total"] > 0

    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="shop-dev-orders")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"})
    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "sqs_queues.orders.retention_seconds: 60 -> 345600" in drift.out

    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert "1 updated" in repaired.out
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert cli("diff", SPEC).code == 0

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert "5 deleted" in destroyed.out
    assert owned_arns(boto, "shop", "dev") == []
    assert boto("kms").list_aliases()["Aliases"] == [] or all(
        a["AliasName"] != "alias/shop-dev-data" for a in boto("kms").list_aliases()["Aliases"])

    again = cli("destroy", SPEC, "--yes")
    assert again.code == 0, again
    assert "Nothing to destroy" in again.out


def test_deployed_settings_match_the_spec(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="shop-dev-orders")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    key_arn = boto("kms").describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["Arn"]
    assert attrs["VisibilityTimeout"] == "120"
    assert attrs["KmsMasterKeyId"] == key_arn
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 3 and redrive["deadLetterTargetArn"].endswith(":shop-dev-orders-dlq")
    policy = json.loads(attrs["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(":shop-dev-order-events")

    table = boto("dynamodb").describe_table(TableName="shop-dev-orders")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key_arn
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-status"]
    backups = boto("dynamodb").describe_continuous_backups(TableName="shop-dev-orders")
    assert backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"

    topic_arn = "arn:aws:sns:us-east-1:123456789012:shop-dev-order-events"
    subs = boto("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [s["Protocol"] for s in subs] == ["sqs"]
    tags = {t["Key"]: t["Value"] for t in boto("sns").list_tags_for_resource(ResourceArn=topic_arn)["Tags"]}
    assert tags["provisioner:resource"] == "sns_topics.order-events"
    assert tags["CostCenter"] == "engineering" and tags["ManagedBy"] == "provisioner"

    outputs = cli("outputs", SPEC)
    assert outputs.code == 0, outputs
    data = outputs.json()
    assert data["sqs_queues.orders"]["url"] == url
    assert data["kms_keys.data"]["arn"] == key_arn


def test_contributor_insights_is_reported_as_not_emulated(cli):
    applied = cli("apply", SPEC, "--yes")
    assert applied.code == 0, applied
    assert "contributor_insights: not emulated by this endpoint" in applied.err
    diff = cli("diff", SPEC)
    assert diff.code == 0
    assert "contributor_insights: not emulated" in diff.out
