"""Ownership by tags against moto in-process: conflicts, decoys, pruning, data-loss guard, environments,
adoption of a half-created key, and destroy."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from provisioner.engine.deployer import PlanBlocked
from provisioner.errors import OwnershipConflict
from tests.reconcilers.helpers import only_change, pending

ACCOUNT = "123456789012"

SPEC = """
    version: 1
    project: shop
    environment: dev
    kms_keys:
      data: {deletion_window_days: 7}
    sqs_queues:
      orders-dlq: {retention_seconds: 1209600}
      orders:
        kms_key: data
        dead_letter: {queue: orders-dlq}
    sns_topics:
      events:
        kms_key: data
        subscriptions:
          - {sqs_queue: orders, raw_message_delivery: true}
    dynamodb_tables:
      orders:
        partition_key: {name: id, type: S}
        kms_key: data
"""

QUEUE_ONLY = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      orders: {visibility_timeout: 120}
"""


def owner_tags(project: str, environment: str, resource: str) -> dict:
    return {"provisioner:project": project, "provisioner:environment": environment,
            "provisioner:resource": resource}


def queue_names(aws) -> set:
    return {url.rsplit("/", 1)[-1] for url in aws("sqs").list_queues().get("QueueUrls", [])}


def table_names(aws) -> set:
    return set(aws("dynamodb").list_tables()["TableNames"])


def topic_names(aws) -> set:
    return {t["TopicArn"].rsplit(":", 1)[-1] for t in aws("sns").list_topics()["Topics"]}


def make_table(aws, name: str, tags: dict) -> None:
    aws("dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


# --- conflicts and decoys ---

def test_untagged_queue_with_our_name_is_a_conflict_and_never_touched(aws, write_spec, engine):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="shop-dev-orders", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    eng = engine(write_spec(QUEUE_ONLY))

    with pytest.raises(OwnershipConflict, match="shop-dev-orders.*exists but has no provisioner ownership tags"):
        eng.plan()
    with pytest.raises(OwnershipConflict):
        eng.apply()
    assert eng.calls.writes == 0
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] \
        == {"VisibilityTimeout": "30"}
    assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}


def test_untagged_table_topic_and_key_alias_with_our_names_are_conflicts(aws, write_spec, engine):
    make_table(aws, "shop-dev-orders", {})
    aws("sns").create_topic(Name="shop-dev-events")
    kms = aws("kms")
    key_id = kms.create_key(Description="not ours")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/shop-dev-data", TargetKeyId=key_id)
    eng = engine(write_spec("""
        version: 1
        project: shop
        environment: dev
        kms_keys:
          data: {deletion_window_days: 7}
        sns_topics:
          events: {}
        dynamodb_tables:
          orders:
            partition_key: {name: id, type: S}
    """))

    with pytest.raises(OwnershipConflict) as raised:
        eng.apply()
    message = str(raised.value)
    for address in ("kms_keys.data", "sns_topics.events", "dynamodb_tables.orders"):
        assert address in message
    assert eng.calls.writes == 0
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "not ours"
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [key_id]
    assert aws("sns").list_tags_for_resource(
        ResourceArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:shop-dev-events")["Tags"] == []


def test_queue_of_another_environment_with_our_name_is_a_conflict(aws, write_spec, engine):
    sqs = aws("sqs")
    sqs.create_queue(QueueName="shop-dev-orders", tags=owner_tags("shop", "prod", "sqs_queues.orders"))
    with pytest.raises(OwnershipConflict, match="owned by project 'shop' environment 'prod'"):
        engine(write_spec(QUEUE_ONLY)).plan()


@pytest.fixture
def decoys(aws):
    """Look-alikes that are not ours: another environment, another project, and no tags at all."""
    sqs = aws("sqs")
    sqs.create_queue(QueueName="shop-prod-orders", tags=owner_tags("shop", "prod", "sqs_queues.orders"))
    sqs.create_queue(QueueName="shopping-dev-orders", tags=owner_tags("shopping", "dev", "sqs_queues.orders"))
    sqs.create_queue(QueueName="shop-dev-legacy")                      # untagged, our name pattern
    make_table(aws, "shop-prod-orders", owner_tags("shop", "prod", "dynamodb_tables.orders"))
    make_table(aws, "shopping-dev-orders", owner_tags("shopping", "dev", "dynamodb_tables.orders"))
    make_table(aws, "shop-dev-legacy", {})
    return {"queues": {"shop-prod-orders", "shopping-dev-orders", "shop-dev-legacy"},
            "tables": {"shop-prod-orders", "shopping-dev-orders", "shop-dev-legacy"}}


def test_decoys_are_never_planned_and_survive_destroy(aws, write_spec, engine, decoys):
    eng = engine(write_spec(SPEC))
    plan = eng.plan()
    assert {c.action for c in plan.changes} == {"create"}
    eng.apply()
    assert not eng.plan().has_changes            # no orphan delete for anything that is not ours

    ours = {"kms_keys.data", "sqs_queues.orders-dlq", "sqs_queues.orders", "sns_topics.events",
            "dynamodb_tables.orders"}
    plan, outcomes = eng.destroy()
    assert {c.address for c in plan.changes} == ours
    assert {c.physical_name for c in plan.changes if c.kind in ("sqs_queues", "dynamodb_tables")} \
        == {"shop-dev-orders", "shop-dev-orders-dlq"}
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]

    assert queue_names(aws) == decoys["queues"]
    assert table_names(aws) == decoys["tables"]
    tags = aws("sqs").list_queue_tags(QueueUrl=aws("sqs").get_queue_url(QueueName="shop-prod-orders")["QueueUrl"])
    assert tags["Tags"] == owner_tags("shop", "prod", "sqs_queues.orders")


# --- pruning ---

PRUNE_BEFORE = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      orders: {}
      legacy: {}
    sns_topics:
      legacy: {}
    dynamodb_tables:
      legacy:
        partition_key: {name: id, type: S}
"""

PRUNE_AFTER = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      orders: {}
"""


def test_resources_removed_from_the_spec_are_deleted(aws, write_spec, engine):
    eng = engine(write_spec(PRUNE_BEFORE))
    eng.apply()
    write_spec(PRUNE_AFTER)

    changes = pending(eng.plan())
    assert set(changes) == {"sqs_queues.legacy", "sns_topics.legacy", "dynamodb_tables.legacy"}
    for change in changes.values():
        assert change.action == "delete"
        assert change.reason == "not in the spec"
        assert not change.blocked
    assert changes["sqs_queues.legacy"].physical_name == "shop-dev-legacy"

    eng.apply()
    assert queue_names(aws) == {"shop-dev-orders"}
    assert table_names(aws) == set()
    assert topic_names(aws) == set()
    assert not eng.plan().has_changes


def put_data(aws, kind: str) -> None:
    if kind == "sqs_queues":
        sqs = aws("sqs")
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="shop-dev-legacy")["QueueUrl"], MessageBody="keep me")
    else:
        aws("dynamodb").put_item(TableName="shop-dev-legacy", Item={"id": {"S": "keep-me"}})


def still_there(aws, kind: str) -> bool:
    return "shop-dev-legacy" in (queue_names(aws) if kind == "sqs_queues" else table_names(aws))


@pytest.mark.parametrize("kind", ["sqs_queues", "dynamodb_tables"])
def test_pruning_a_resource_holding_data_needs_allow_data_loss(aws, write_spec, engine, kind):
    eng = engine(write_spec(PRUNE_BEFORE))
    eng.apply()
    put_data(aws, kind)
    write_spec(PRUNE_AFTER)

    plan = eng.plan()
    blocked = {c.address: c.blocked for c in plan.blocked}
    assert set(blocked) == {f"{kind}.legacy"}
    assert "allow-data-loss" in blocked[f"{kind}.legacy"]
    with pytest.raises(PlanBlocked, match="it holds data"):
        eng.apply()
    assert still_there(aws, kind)

    allowed = engine(eng.spec_path, allow_data_loss=True)
    changes = pending(allowed.plan())   # the refused apply deleted nothing, the other prunes neither
    assert {a: c.action for a, c in changes.items()} == {
        f"{k}.legacy": "delete" for k in ("sqs_queues", "sns_topics", "dynamodb_tables")}
    assert not any(c.blocked for c in changes.values())
    allowed.apply()
    assert not still_there(aws, kind)
    assert not allowed.plan().has_changes


# --- environments ---

def test_another_environment_gets_its_own_names_and_destroy_leaves_dev_alone(aws, write_spec, engine):
    path = write_spec(SPEC)
    dev = engine(path)
    dev.apply()
    pr = engine(path, environment="pr-7")
    plan = pr.plan()
    assert {c.action for c in plan.changes} == {"create"}     # nothing of dev is adopted or pruned
    assert sorted(c.physical_name for c in plan.changes) == [
        "shop-pr-7-data", "shop-pr-7-events", "shop-pr-7-orders", "shop-pr-7-orders", "shop-pr-7-orders-dlq"]
    pr.apply()
    assert not pr.plan().has_changes
    assert not dev.plan().has_changes
    assert queue_names(aws) == {"shop-dev-orders", "shop-dev-orders-dlq", "shop-pr-7-orders", "shop-pr-7-orders-dlq"}

    plan, outcomes = pr.destroy()
    assert sorted(c.physical_name for c in plan.changes if c.kind != "kms_keys") == [
        f"arn:aws:sns:us-east-1:{ACCOUNT}:shop-pr-7-events", "shop-pr-7-orders", "shop-pr-7-orders",
        "shop-pr-7-orders-dlq"]
    assert [c.kind for c in plan.changes].count("kms_keys") == 1
    assert all(o.status == "done" for o in outcomes)
    assert queue_names(aws) == {"shop-dev-orders", "shop-dev-orders-dlq"}
    assert table_names(aws) == {"shop-dev-orders"}
    assert topic_names(aws) == {"shop-dev-events"}
    kms = aws("kms")
    assert kms.describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["KeyState"] == "Enabled"
    assert "alias/shop-pr-7-data" not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    assert not dev.plan().has_changes


# --- a key left behind by an interrupted apply ---

def test_key_without_its_alias_is_adopted_not_duplicated(aws, write_spec, engine):
    kms = aws("kms")
    key_id = kms.create_key(Description="", Tags=[
        {"TagKey": k, "TagValue": v} for k, v in {
            **owner_tags("shop", "dev", "kms_keys.data"), "provisioner:deletion-window-days": "7"}.items()],
    )["KeyMetadata"]["KeyId"]
    eng = engine(write_spec("""
        version: 1
        project: shop
        environment: dev
        kms_keys:
          data: {description: Data at rest, deletion_window_days: 7}
    """))

    change = only_change(eng.plan(), "kms_keys.data")          # an update of the existing key, not a create
    assert {d.path for d in change.diffs} >= {"alias", "description"}
    eng.apply()
    assert eng.calls.calls[("kms", "CreateKey")] == 0
    assert eng.calls.calls[("kms", "CreateAlias")] == 1
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [key_id]
    meta = kms.describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]
    assert meta["KeyId"] == key_id and meta["Description"] == "Data at rest"
    assert not eng.plan().has_changes


# --- destroy ---

def test_destroy_removes_everything_owned(aws, write_spec, engine):
    eng = engine(write_spec(SPEC))
    eng.apply()
    aws("dynamodb").put_item(TableName="shop-dev-orders", Item={"id": {"S": "x"}})
    kms = aws("kms")
    key_id = kms.describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["KeyId"]

    plan, outcomes = eng.destroy()
    assert {c.action for c in plan.changes} == {"delete"}
    assert [c.kind for c in plan.changes] == ["sns_topics", "dynamodb_tables", "sqs_queues", "sqs_queues",
                                              "kms_keys"]                  # reverse creation order
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]

    assert queue_names(aws) == set()
    assert table_names(aws) == set()
    assert topic_names(aws) == set()
    assert aws("sns").list_subscriptions()["Subscriptions"] == []
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    window = meta["DeletionDate"] - datetime.now(timezone.utc)
    assert timedelta(days=7) - timedelta(minutes=5) < window <= timedelta(days=7)
    assert kms.list_aliases(KeyId=key_id)["Aliases"] == []
    assert "alias/shop-dev-data" not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}

    again, outcomes = eng.destroy()
    assert again.changes == [] and outcomes == []
    assert eng.calls.writes == 0

    # applying again after a destroy builds a new key: the old one stays scheduled for deletion
    eng.apply()
    assert eng.calls.calls[("kms", "CreateKey")] == 1
    new_key = kms.describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]
    assert new_key["KeyId"] != key_id and new_key["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert not eng.plan().has_changes
