"""DynamoDB tables: the calls of a create, of each update and of a delete, on fake state."""
from botocore.stub import Stubber

from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
dynamodb_tables:
  orders:
    partition_key: {name: id, type: S}
    billing: on_demand
    global_indexes:
      by-status: {partition_key: {name: status, type: S}, projection: keys_only}
    stream: new_and_old_images
    ttl_attribute: expires_at
"""
NAME = "shop-dev-orders"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{NAME}"
TAGS = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:project": "shop",
        "provisioner:environment": "dev", "provisioner:resource": "dynamodb_tables.orders"}
SETTLED = [("dynamodb:wait table_exists", {"TableName": NAME}), ("dynamodb:DescribeTable", {"TableName": NAME})]


def in_sync(state) -> dict:
    return dict(state.desired("dynamodb_tables.orders"))


def test_create_is_the_table_then_its_wait_then_ttl_and_backups(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("dynamodb_tables.orders")) == [
        ("dynamodb:CreateTable", {
            "TableName": NAME,
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                     {"AttributeName": "status", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST", "TableClass": "STANDARD", "DeletionProtectionEnabled": False,
            "GlobalSecondaryIndexes": [{"IndexName": "by-status",
                                        "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                                        "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "SSESpecification": {"Enabled": True, "SSEType": "KMS"},
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(TAGS.items())]}),
        ("dynamodb:wait table_exists", {"TableName": NAME}),
        ("dynamodb:UpdateTimeToLive", {"TableName": NAME, "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "expires_at"}}),
        ("dynamodb:UpdateContinuousBackups", {"TableName": NAME, "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": True}})]


def test_a_new_stream_view_disables_the_stream_then_enables_it_each_settled(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "stream": "keys_only"}
    assert shown(state.updates("dynamodb_tables.orders", actual, {"arn": ARN})) == [
        ("dynamodb:UpdateTable", {"TableName": NAME, "StreamSpecification": {"StreamEnabled": False}}), *SETTLED,
        ("dynamodb:UpdateTable", {"TableName": NAME, "StreamSpecification": {
            "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}), *SETTLED]


def test_an_index_of_another_shape_is_deleted_then_created_and_ttl_moves_to_its_attribute(fake_state):
    state = fake_state(SPEC)
    desired = in_sync(state)
    index = {**desired["global_indexes"]["by-status"], "projection": "all"}
    actual = {**desired, "global_indexes": {"by-status": index}, "ttl_attribute": "ttl"}
    assert shown(state.updates("dynamodb_tables.orders", actual, {"arn": ARN})) == [
        ("dynamodb:UpdateTable", {"TableName": NAME, "GlobalSecondaryIndexUpdates": [
            {"Delete": {"IndexName": "by-status"}}]}), *SETTLED,
        ("dynamodb:UpdateTable", {
            "TableName": NAME, "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                                        {"AttributeName": "status", "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": "by-status", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}}]}), *SETTLED,
        ("dynamodb:UpdateTimeToLive", {"TableName": NAME, "TimeToLiveSpecification": {
            "Enabled": False, "AttributeName": "ttl"}}),
        ("dynamodb:UpdateTimeToLive", {"TableName": NAME, "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "expires_at"}})]


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**TAGS, "stray": "x", "ManagedBy": "hand"}}
    assert shown(state.updates("dynamodb_tables.orders", actual, {"arn": ARN})) == [
        ("dynamodb:UntagResource", {"ResourceArn": ARN, "TagKeys": ["stray"]}),
        ("dynamodb:TagResource", {"ResourceArn": ARN, "Tags": [{"Key": "ManagedBy", "Value": "provisioner"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("dynamodb_tables.orders", in_sync(state), {"arn": ARN}) == []


def test_delete_deregisters_the_scaling_of_a_provisioned_table_then_deletes_and_waits(fake_state):
    state = fake_state(SPEC)
    target = {"ServiceNamespace": "dynamodb", "ResourceId": f"table/{NAME}",
              "ScalableDimension": "dynamodb:table:ReadCapacityUnits"}
    with Stubber(state.ctx.client("dynamodb")) as dynamodb, \
            Stubber(state.ctx.client("application-autoscaling")) as scaling:
        dynamodb.add_response("describe_table", {"Table": {
            "TableName": NAME, "BillingModeSummary": {"BillingMode": "PROVISIONED"}}}, {"TableName": NAME})
        scaling.add_response("describe_scalable_targets", {"ScalableTargets": [{
            **target, "MinCapacity": 5, "MaxCapacity": 50, "RoleARN": "arn:aws:iam::123456789012:role/x",
            "CreationTime": "2026-12-01T00:00:00Z"}]},
            {"ServiceNamespace": "dynamodb", "ResourceIds": [f"table/{NAME}"]})
        operations = state.deletes("dynamodb_tables", OwnedResource("dynamodb_tables", "dynamodb_tables.orders",
                                                                     NAME, ARN))
    assert shown(operations) == [("application-autoscaling:DeregisterScalableTarget", target),
                                 ("dynamodb:DeleteTable", {"TableName": NAME}),
                                 ("dynamodb:wait table_not_exists", {"TableName": NAME})]
    assert operations[1].missing_ok
