"""deletion_protection: true on any taggable resource blocks pruning, replacement and destroy until the spec
turns it off and that is applied (the protection is the tag provisioner:deletion-protection)."""
from __future__ import annotations

import pytest

from provisioner.engine.deployer import PlanBlocked
from provisioner.engine.plan import DELETE, PROTECTED_MESSAGE, REPLACE
from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import write_code

SPEC = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      orders: {deletion_protection: true}
      scratch: {}
    sns_topics:
      events: {deletion_protection: true}
"""
WITHOUT_ORDERS = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      scratch: {}
    sns_topics:
      events: {deletion_protection: true}
"""


def queue_tags(aws, name: str) -> dict:
    sqs = aws("sqs")
    return sqs.list_queue_tags(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"]).get("Tags", {})


@pytest.fixture
def applied(aws, write_spec, engine):
    path = write_spec(SPEC)
    engine(path).apply()
    return path


def test_the_protection_is_a_tag_on_the_resource(applied, aws):
    assert queue_tags(aws, "shop-dev-orders")["provisioner:deletion-protection"] == "true"
    assert "provisioner:deletion-protection" not in queue_tags(aws, "shop-dev-scratch")


def test_pruning_a_protected_resource_is_blocked_and_nothing_is_deleted(applied, aws, write_spec, engine):
    eng = engine(write_spec(WITHOUT_ORDERS))
    plan = eng.plan()
    change, = [c for c in plan.changes if c.action == DELETE]
    assert change.address == "sqs_queues.orders" and change.blocked == PROTECTED_MESSAGE
    with pytest.raises(PlanBlocked, match="deletion_protection is on"):
        eng.apply()   # refused before any change
    assert queue_tags(aws, "shop-dev-orders")   # still there


def test_destroy_blocks_exactly_the_protected_resources_and_deletes_nothing(applied, aws, engine):
    with pytest.raises(PlanBlocked) as refused:
        engine(applied).destroy()
    assert sorted(c.address for c in refused.value.changes) == ["sns_topics.events", "sqs_queues.orders"]
    assert queue_tags(aws, "shop-dev-orders") and queue_tags(aws, "shop-dev-scratch")
    assert aws("sns").get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:123456789012:shop-dev-events")


def test_a_replacement_of_a_protected_resource_is_blocked(aws, write_spec, engine):
    logs = """
        version: 1
        project: shop
        environment: dev
        log_groups:
          audit: {deletion_protection: true, log_class: STANDARD}
    """
    engine(write_spec(logs)).apply()
    plan = engine(write_spec(logs.replace("STANDARD", "INFREQUENT_ACCESS"))).plan()
    change, = plan.changes
    assert change.action == REPLACE and change.blocked == PROTECTED_MESSAGE


def test_turning_it_off_and_applying_lets_destroy_delete_everything(applied, aws, write_spec, engine):
    engine(write_spec(SPEC.replace("deletion_protection: true", "deletion_protection: false"))).apply()
    assert "provisioner:deletion-protection" not in queue_tags(aws, "shop-dev-orders")
    plan, outcomes = engine(applied).destroy()
    assert not plan.blocked and all(o.status == "done" for o in outcomes)
    assert aws("sqs").list_queues().get("QueueUrls", []) == []


def test_kinds_without_tags_cannot_be_protected(write_spec, tmp_path):
    write_code(tmp_path, {"helpers.py": "VALUE = 1\n"}, folder="layer")
    path = write_spec("""
        version: 1
        project: shop
        environment: dev
        lambda_layers:
          common: {code: layer, deletion_protection: true}
    """)
    with pytest.raises(SpecError) as raised:
        load_spec(str(path), default_registry())
    assert "lambda_layers.common.deletion_protection: lambda_layers take no tags" in str(raised.value)
