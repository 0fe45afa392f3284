"""SNS topics: the calls of a create, of each update and of a delete, on fake state."""
from provisioner.engine.operations import Pending
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  inbox: {}
sns_topics:
  alerts:
    display_name: Alerts
    subscriptions:
      - {email: ops@example.com}
      - {sqs_queue: inbox, raw_message_delivery: true}
"""
ARN = "arn:aws:sns:us-east-1:123456789012:shop-dev-alerts"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:shop-dev-inbox"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": "sns_topics.alerts"}


def with_answers(operations) -> list:
    """shown(), with a value only AWS gives written as where it comes from."""
    return [(operation, {k: repr(v) if isinstance(v, Pending) else v for k, v in params.items()})
            for operation, params in shown(operations)]


def in_sync(state) -> dict:
    return dict(state.desired("sns_topics.alerts"))


def outputs(**subscription_arns) -> dict:
    return {"arn": ARN, "_subscription_arns": subscription_arns}


def test_create_is_the_topic_with_its_tags_then_each_subscription(fake_state):
    state = fake_state(SPEC)
    assert with_answers(state.creates("sns_topics.alerts")) == [
        ("sns:CreateTopic", {"Name": "shop-dev-alerts",
                             "Attributes": {"DisplayName": "Alerts", "KmsMasterKeyId": "alias/aws/sns"},
                             "Tags": [{"Key": k, "Value": v} for k, v in sorted(OWNERSHIP.items())]}),
        ("sns:Subscribe", {"TopicArn": "(from CreateTopic)", "Protocol": "email", "Endpoint": "ops@example.com",
                           "Attributes": {}, "ReturnSubscriptionArn": True}),
        ("sns:Subscribe", {"TopicArn": "(from CreateTopic)", "Protocol": "sqs", "Endpoint": QUEUE,
                           "Attributes": {"RawMessageDelivery": "true"}, "ReturnSubscriptionArn": True})]


def test_a_display_name_change_is_one_set_topic_attributes(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "display_name": "Old"}
    assert shown(state.updates("sns_topics.alerts", actual, outputs())) == [
        ("sns:SetTopicAttributes", {"TopicArn": ARN, "AttributeName": "DisplayName", "AttributeValue": "Alerts"})]


def test_subscriptions_are_changed_in_place_and_strays_removed(fake_state):
    state = fake_state(SPEC)
    synced = in_sync(state)
    actual = {**synced, "subscriptions": {
        "email:ops@example.com": synced["subscriptions"]["email:ops@example.com"],
        f"sqs:{QUEUE}": {"raw_message_delivery": False, "filter_policy": None},
        "https:https://old.example.com": {"raw_message_delivery": False, "filter_policy": None}}}
    arns = {f"sqs:{QUEUE}": f"{ARN}:sub-sqs", "https:https://old.example.com": f"{ARN}:sub-https"}
    assert shown(state.updates("sns_topics.alerts", actual, outputs(**arns))) == [
        ("sns:SetSubscriptionAttributes", {"SubscriptionArn": f"{ARN}:sub-sqs", "AttributeName": "RawMessageDelivery",
                                           "AttributeValue": "true"}),
        ("sns:Unsubscribe", {"SubscriptionArn": f"{ARN}:sub-https"})]


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates("sns_topics.alerts", actual, outputs())) == [
        ("sns:UntagResource", {"ResourceArn": ARN, "TagKeys": ["stray"]}),
        ("sns:TagResource", {"ResourceArn": ARN, "Tags": [{"Key": "Project", "Value": "shop"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("sns_topics.alerts", in_sync(state), outputs()) == []


def test_delete_is_one_call_that_accepts_a_topic_already_gone(fake_state):
    state = fake_state(SPEC)
    [operation] = state.deletes("sns_topics", OwnedResource("sns_topics", "sns_topics.alerts", ARN, ARN))
    assert (str(operation), operation.params, operation.missing_ok) == ("sns:DeleteTopic", {"TopicArn": ARN}, True)
