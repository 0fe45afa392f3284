"""SQS queues against moto in-process: quartet, drift of every managed attribute, repair, policies."""
from __future__ import annotations

import json

import pytest

from provisioner.engine.diff import ABSENT
from tests.reconcilers.helpers import assert_diff, assert_repaired, diffs_by_path, only_change, run_quartet

ACCOUNT = "123456789012"
QUEUE = "sqs_queues.orders"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:shop-dev-events"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:shop-dev-orders"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:shop-dev-orders-dlq"

SPEC = """
    version: 1
    project: shop
    environment: dev
    tags:
      Owner: platform
    kms_keys:
      data: {deletion_window_days: 7}
    sqs_queues:
      orders-dlq:
        retention_seconds: 1209600
      orders:
        kms_key: data
        visibility_timeout: 120
        retention_seconds: 345600
        delay_seconds: 5
        dead_letter: {queue: orders-dlq, max_receive_count: 3}
    sns_topics:
      events:
        subscriptions:
          - {sqs_queue: orders}
"""


@pytest.fixture
def applied(aws, write_spec, engine):
    """The spec applied; returns (engine, sqs client, url of the orders queue)."""
    eng = engine(write_spec(SPEC))
    eng.apply()
    sqs = aws("sqs")
    return eng, sqs, sqs.get_queue_url(QueueName="shop-dev-orders")["QueueUrl"]


def attributes(sqs, url) -> dict:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def set_by_hand(sqs, url, attrs: dict) -> None:
    """SetQueueAttributes as AWS behaves: moto drops the queue policy when a call omits it, so send it too."""
    policy = attributes(sqs, url).get("Policy")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={**attrs, **({"Policy": policy} if policy else {})})


def key_arn(aws) -> str:
    return aws("kms").describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["Arn"]


def test_quartet(aws, write_spec, engine):
    eng = engine(write_spec(SPEC))
    run_quartet(eng)
    sqs = aws("sqs")
    attrs = attributes(sqs, sqs.get_queue_url(QueueName="shop-dev-orders")["QueueUrl"])
    assert attrs["VisibilityTimeout"] == "120"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["DelaySeconds"] == "5"
    assert attrs["KmsMasterKeyId"] == key_arn(aws)
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3}
    dlq = attributes(sqs, sqs.get_queue_url(QueueName="shop-dev-orders-dlq")["QueueUrl"])
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert "Policy" not in dlq            # nothing delivers to the DLQ: no policy at all


@pytest.mark.parametrize("attribute, value, field, before, after", [
    ("MessageRetentionPeriod", "60", "retention_seconds", 60, 345600),
    ("VisibilityTimeout", "0", "visibility_timeout", 0, 120),
    ("DelaySeconds", "0", "delay_seconds", 0, 5),
    ("MaximumMessageSize", "2048", "max_message_size", 2048, 1048576),
    ("ReceiveMessageWaitTimeSeconds", "20", "receive_wait_seconds", 20, 0),
    ("KmsDataKeyReusePeriodSeconds", "600", "kms_data_key_reuse_seconds", 600, 300),
])
def test_integer_attribute_drift_is_repaired(applied, attribute, value, field, before, after):
    eng, sqs, url = applied
    set_by_hand(sqs, url, {attribute: value})

    change = only_change(eng.plan(), QUEUE)
    assert_diff(change, field, before, after)
    assert set(diffs_by_path(change)) == {field}

    assert_repaired(eng)
    assert attributes(sqs, url)[attribute] == str(after)


def test_spec_change_keeps_the_policy_and_converges_in_one_apply(applied, write_spec):
    eng, sqs, url = applied
    policy = attributes(sqs, url)["Policy"]
    write_spec(SPEC.replace("visibility_timeout: 120", "visibility_timeout: 60"))

    change = only_change(eng.plan(), QUEUE)
    assert diffs_by_path(change) == {"visibility_timeout": (120, 60)}
    assert_repaired(eng)
    attrs = attributes(sqs, url)
    assert attrs["VisibilityTimeout"] == "60"
    assert attrs["Policy"] == policy


def test_redrive_max_receive_count_drift_is_repaired(applied):
    eng, sqs, url = applied
    set_by_hand(sqs, url, {"RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 10})})

    change = only_change(eng.plan(), QUEUE)
    assert_diff(change, "dead_letter.max_receive_count", 10, 3)
    assert set(diffs_by_path(change)) == {"dead_letter.max_receive_count"}

    assert_repaired(eng)
    assert json.loads(attributes(sqs, url)["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3}


def test_kms_key_removed_is_repaired(aws, applied):
    eng, sqs, url = applied
    set_by_hand(sqs, url, {"KmsMasterKeyId": ""})

    change = only_change(eng.plan(), QUEUE)
    assert_diff(change, "kms_key", None, key_arn(aws))
    assert_diff(change, "kms_data_key_reuse_seconds", None, 300)

    assert_repaired(eng)
    attrs = attributes(sqs, url)
    assert attrs["KmsMasterKeyId"] == key_arn(aws)
    assert attrs["KmsDataKeyReusePeriodSeconds"] == "300"


def test_sse_sqs_disabled_is_repaired(aws, applied):
    eng, sqs, _ = applied
    dlq = sqs.get_queue_url(QueueName="shop-dev-orders-dlq")["QueueUrl"]
    assert attributes(sqs, dlq)["SqsManagedSseEnabled"] == "true"       # the secure default without kms_key
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"SqsManagedSseEnabled": "false"})

    change = only_change(eng.plan(), "sqs_queues.orders-dlq")
    assert diffs_by_path(change) == {"sqs_managed_sse": (False, True)}

    assert_repaired(eng)
    assert attributes(sqs, dlq)["SqsManagedSseEnabled"] == "true"


def test_generated_policy_allows_send_only_from_the_subscribing_topic(applied):
    _, sqs, url = applied
    statements = json.loads(attributes(sqs, url)["Policy"])["Statement"]
    sends = [s for s in statements if "sqs:SendMessage" in json.dumps(s["Action"])]
    assert len(sends) == 1 and len(statements) == 1
    statement = sends[0]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == QUEUE_ARN
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC_ARN}}


def test_queue_policy_removed_is_repaired(applied):
    eng, sqs, url = applied
    generated = json.loads(attributes(sqs, url)["Policy"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    assert "Policy" not in attributes(sqs, url)

    change = only_change(eng.plan(), QUEUE)
    before, after = diffs_by_path(change)["policy"]
    assert before is None
    (statement,) = after["Statement"].values()
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": [TOPIC_ARN]}}

    assert_repaired(eng)
    assert json.loads(attributes(sqs, url)["Policy"]) == generated


def test_queue_policy_widened_is_repaired(applied):
    eng, sqs, url = applied
    policy = json.loads(attributes(sqs, url)["Policy"])
    (sid,) = [s["Sid"] for s in policy["Statement"]]
    policy["Statement"][0]["Condition"] = {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*"}}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    change = only_change(eng.plan(), QUEUE)
    found = diffs_by_path(change)
    assert found[f"policy.Statement.{sid}.Condition.ArnLike"] == ({"aws:SourceArn": ["arn:aws:sns:*"]}, ABSENT)
    assert found[f"policy.Statement.{sid}.Condition.ArnEquals"] == (ABSENT, {"aws:SourceArn": [TOPIC_ARN]})

    assert_repaired(eng)
    condition = json.loads(attributes(sqs, url)["Policy"])["Statement"][0]["Condition"]
    assert condition == {"ArnEquals": {"aws:SourceArn": TOPIC_ARN}}


def test_tags_drift_is_repaired(applied):
    eng, sqs, url = applied
    sqs.tag_queue(QueueUrl=url, Tags={"Owner": "someone-else", "Extra": "by-hand"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["Project"])

    change = only_change(eng.plan(), QUEUE)
    assert_diff(change, "tags.Owner", "someone-else", "platform")
    assert_diff(change, "tags.Extra", "by-hand", ABSENT)
    assert_diff(change, "tags.Project", ABSENT, "shop")
    assert set(diffs_by_path(change)) == {"tags.Owner", "tags.Extra", "tags.Project"}

    assert_repaired(eng)
    tags = sqs.list_queue_tags(QueueUrl=url)["Tags"]
    assert tags["Owner"] == "platform" and tags["Project"] == "shop"
    assert "Extra" not in tags
    assert tags["provisioner:resource"] == QUEUE


HAND_WRITTEN = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      inbox:
        policy:
          Statement:
            - Sid: AllowProducer
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::123456789012:root"}
              Action: [sqs:SendMessage, sqs:GetQueueAttributes]
              Resource: "*"
            - Sid: AllowConsumer
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::123456789012:role/consumer"}
              Action: sqs:ReceiveMessage
              Resource: "*"
              Condition: {StringEquals: {"aws:SourceAccount": "123456789012"}}
"""


def test_hand_written_policy_in_another_form_is_not_drift(aws, write_spec, engine):
    eng = engine(write_spec(HAND_WRITTEN))
    eng.apply()
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="shop-dev-inbox")["QueueUrl"]
    # the same policy as AWS may return it: other statement order, lists vs strings, account id principal
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowConsumer", "Effect": "Allow",
             "Principal": {"AWS": ["arn:aws:iam::123456789012:role/consumer"]},
             "Action": ["sqs:ReceiveMessage"], "Resource": ["*"],
             "Condition": {"StringEquals": {"aws:SourceAccount": ["123456789012"]}}},
            {"Sid": "AllowProducer", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
             "Action": ["sqs:GetQueueAttributes", "sqs:SendMessage"], "Resource": "*"},
        ]}, indent=2)})

    plan = eng.plan()
    assert not plan.has_changes, [(c.address, c.diffs) for c in plan.pending]

    # a real change of meaning still is drift
    policy = json.loads(attributes(sqs, url)["Policy"])
    policy["Statement"][1]["Action"] = "sqs:*"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    change = only_change(eng.plan(), "sqs_queues.inbox")
    assert_diff(change, "policy.Statement.AllowProducer.Action",
                ["sqs:*"], ["sqs:GetQueueAttributes", "sqs:SendMessage"])
    assert_repaired(eng)
