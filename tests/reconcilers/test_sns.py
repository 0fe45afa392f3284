"""SNS topics and subscriptions against moto in-process: quartet, drift of every managed field, repair."""
from __future__ import annotations

import pytest

from provisioner.engine.diff import ABSENT
from tests.reconcilers.helpers import assert_repaired, diffs_by_path, only_change, run_quartet

ACCOUNT = "123456789012"
TOPIC = "sns_topics.events"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:shop-dev-events"
ORDERS_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:shop-dev-orders"
AUDIT_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:shop-dev-audit"
ORDERS_KEY = f"subscriptions.sqs:{ORDERS_ARN}"
AUDIT_KEY = f"subscriptions.sqs:{AUDIT_ARN}"

SPEC = """
    version: 1
    project: shop
    environment: dev
    tags:
      Owner: platform
    kms_keys:
      data: {deletion_window_days: 7}
    sqs_queues:
      orders: {}
      audit: {}
    sns_topics:
      events:
        display_name: Shop events
        kms_key: data
        subscriptions:
          - {sqs_queue: orders, raw_message_delivery: true}
          - {sqs_queue: audit, filter_policy: {type: [order]}}
"""


@pytest.fixture
def applied(aws, write_spec, engine):
    """The spec applied; returns (engine, sns client)."""
    eng = engine(write_spec(SPEC))
    eng.apply()
    return eng, aws("sns")


def subscriptions(sns) -> dict:
    """queue arn -> subscription attributes."""
    return {s["Endpoint"]: sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
            for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]}


def key_arn(aws) -> str:
    return aws("kms").describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["Arn"]


def test_quartet(aws, write_spec, engine):
    eng = engine(write_spec(SPEC))
    run_quartet(eng)
    sns = aws("sns")
    attrs = sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]
    assert attrs["DisplayName"] == "Shop events"
    assert attrs["KmsMasterKeyId"] == key_arn(aws)
    subs = subscriptions(sns)
    assert set(subs) == {ORDERS_ARN, AUDIT_ARN}
    assert subs[ORDERS_ARN]["RawMessageDelivery"] == "true"
    assert subs[AUDIT_ARN].get("RawMessageDelivery", "false") == "false"


def test_display_name_drift_is_repaired(applied):
    eng, sns = applied
    sns.set_topic_attributes(TopicArn=TOPIC_ARN, AttributeName="DisplayName", AttributeValue="by hand")

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {"display_name": ("by hand", "Shop events")}

    assert_repaired(eng)
    assert sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["DisplayName"] == "Shop events"


@pytest.mark.parametrize("value, before", [("", None), ("alias/aws/sns", "alias/aws/sns")])
def test_kms_key_drift_is_repaired(aws, applied, value, before):
    eng, sns = applied
    sns.set_topic_attributes(TopicArn=TOPIC_ARN, AttributeName="KmsMasterKeyId", AttributeValue=value)

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {"kms_key": (before, key_arn(aws))}

    assert_repaired(eng)
    assert sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["KmsMasterKeyId"] == key_arn(aws)


def test_subscription_removed_is_resubscribed(applied):
    eng, sns = applied
    (orders,) = [s for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
                 if s["Endpoint"] == ORDERS_ARN]
    sns.unsubscribe(SubscriptionArn=orders["SubscriptionArn"])

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {
        ORDERS_KEY: (ABSENT, {"raw_message_delivery": True, "filter_policy": None})}

    assert_repaired(eng)
    subs = subscriptions(sns)
    assert set(subs) == {ORDERS_ARN, AUDIT_ARN}
    assert subs[ORDERS_ARN]["RawMessageDelivery"] == "true"


def test_raw_message_delivery_flipped_is_repaired(applied):
    eng, sns = applied
    (orders,) = [s for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
                 if s["Endpoint"] == ORDERS_ARN]
    sns.set_subscription_attributes(SubscriptionArn=orders["SubscriptionArn"],
                                    AttributeName="RawMessageDelivery", AttributeValue="false")

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {f"{ORDERS_KEY}.raw_message_delivery": (False, True)}

    assert_repaired(eng)
    assert subscriptions(sns)[ORDERS_ARN]["RawMessageDelivery"] == "true"
    # repaired in place: the same subscription, not a new one
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
            if s["Endpoint"] == ORDERS_ARN] == [orders["SubscriptionArn"]]


def test_filter_policy_drift_is_repaired(applied):
    eng, sns = applied
    (audit,) = [s for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
                if s["Endpoint"] == AUDIT_ARN]
    sns.set_subscription_attributes(SubscriptionArn=audit["SubscriptionArn"],
                                    AttributeName="FilterPolicy", AttributeValue='{"type": ["refund"]}')

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {f"{AUDIT_KEY}.filter_policy.type": (["refund"], ["order"])}

    assert_repaired(eng)
    assert subscriptions(sns)[AUDIT_ARN]["FilterPolicy"] in ('{"type": ["order"]}', '{"type":["order"]}')


def test_subscription_added_by_hand_is_removed(aws, applied):
    eng, sns = applied
    stray = aws("sqs").create_queue(QueueName="someone-elses-queue")["QueueUrl"]
    stray_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:someone-elses-queue"
    sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=stray_arn)

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {
        f"subscriptions.sqs:{stray_arn}": ({"raw_message_delivery": False, "filter_policy": None}, ABSENT)}

    assert_repaired(eng)
    assert set(subscriptions(sns)) == {ORDERS_ARN, AUDIT_ARN}
    assert aws("sqs").get_queue_url(QueueName="someone-elses-queue")["QueueUrl"] == stray   # the queue is not ours


def test_tags_drift_is_repaired(applied):
    eng, sns = applied
    sns.tag_resource(ResourceArn=TOPIC_ARN, Tags=[{"Key": "Owner", "Value": "someone-else"},
                                                  {"Key": "Extra", "Value": "by-hand"}])
    sns.untag_resource(ResourceArn=TOPIC_ARN, TagKeys=["ManagedBy"])

    change = only_change(eng.plan(), TOPIC)
    assert diffs_by_path(change) == {
        "tags.Owner": ("someone-else", "platform"),
        "tags.Extra": ("by-hand", ABSENT),
        "tags.ManagedBy": (ABSENT, "provisioner"),
    }

    assert_repaired(eng)
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=TOPIC_ARN)["Tags"]}
    assert tags["Owner"] == "platform" and tags["ManagedBy"] == "provisioner"
    assert "Extra" not in tags
    assert tags["provisioner:resource"] == TOPIC


def test_subscription_removed_from_the_spec_is_unsubscribed(aws, applied, write_spec):
    eng, sns = applied
    write_spec(SPEC.replace("          - {sqs_queue: audit, filter_policy: {type: [order]}}\n", ""))

    plan = eng.plan()
    change = plan.changes[[c.address for c in plan.changes].index(TOPIC)]
    assert change.action == "update"
    assert diffs_by_path(change) == {AUDIT_KEY: ({"raw_message_delivery": False,
                                                  "filter_policy": {"type": ["order"]}}, ABSENT)}
    eng.apply()
    assert set(subscriptions(sns)) == {ORDERS_ARN}
    assert not eng.plan().has_changes

