"""SQS queues: the calls of a create, of each update and of a delete, on fake state."""
import pytest

from provisioner.services.base import OwnedResource, UnwrittenField
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  orders-dlq: {retention_seconds: 1209600}
  orders:
    visibility_timeout: 60
    dead_letter: {queue: "${sqs_queues.orders-dlq.arn}", max_receive_count: 5}
"""
URL = "https://sqs.us-east-1.amazonaws.com/123456789012/shop-dev-orders"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:project": "shop", "provisioner:environment": "dev",
             "provisioner:resource": "sqs_queues.orders"}


def test_create_is_one_call_with_every_attribute_and_the_tags(fake_state):
    state = fake_state(SPEC)
    [(operation, params)] = shown(state.creates("sqs_queues.orders"))
    assert operation == "sqs:CreateQueue"
    assert params["QueueName"] == "shop-dev-orders"
    assert params["Attributes"]["VisibilityTimeout"] == "60"
    assert params["Attributes"]["SqsManagedSseEnabled"] == "true"
    assert '"maxReceiveCount": 5' in params["Attributes"]["RedrivePolicy"]
    assert params["tags"] == OWNERSHIP


def in_sync(state) -> dict:
    return dict(state.desired("sqs_queues.orders"))


def test_an_attribute_change_is_one_set_queue_attributes_with_that_attribute(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "visibility_timeout": 30}
    assert shown(state.updates("sqs_queues.orders", actual, {"url": URL})) == [
        ("sqs:SetQueueAttributes", {"QueueUrl": URL, "Attributes": {"VisibilityTimeout": "60"}})]


def test_tag_drift_is_an_untag_then_a_tag_call_and_nothing_else(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "provisioner:resource": "other"}}
    assert shown(state.updates("sqs_queues.orders", actual, {"url": URL})) == [
        ("sqs:UntagQueue", {"QueueUrl": URL, "TagKeys": ["stray"]}),
        ("sqs:TagQueue", {"QueueUrl": URL, "Tags": {"provisioner:resource": "sqs_queues.orders"}})]


def test_a_change_no_update_writes_is_refused_rather_than_dropped(fake_state):
    state = fake_state(SPEC)
    with pytest.raises(UnwrittenField, match="sqs_queues: no update writes surprise"):
        state.updates("sqs_queues.orders", in_sync(state), {"url": URL}, extra={"surprise": 1})


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("sqs_queues.orders", in_sync(state), {"url": URL}) == []


def test_delete_is_one_call_that_accepts_a_queue_already_gone(fake_state):
    state = fake_state(SPEC)
    owned = OwnedResource("sqs_queues", "sqs_queues.orders", "shop-dev-orders", "arn:aws:sqs:::shop-dev-orders")
    [operation] = state.deletes("sqs_queues", owned)
    assert (str(operation), operation.params) == ("sqs:DeleteQueue", {"QueueUrl": "http://127.0.0.1:9/123456789012/shop-dev-orders"})
    assert operation.missing_ok
