"""The secure defaults of a spec that names no key, on moto in-process: applied, read back without drift,
and an out-of-band downgrade is caught by the plan and repaired."""
from __future__ import annotations

import json

import pytest

from tests.reconcilers.helpers import assert_repaired, pending_diffs, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
dynamodb_tables:
  orders: {partition_key: {name: id, type: S}}
s3_buckets:
  files: {}
sns_topics:
  events: {}
lambda_functions:
  worker: {code: code, handler: app.handler}
api_gateways:
  api: {routes: {"GET /items": {function: worker}}}
"""
TABLE, BUCKET, API = "shop-dev-orders", "shop-dev-files-123456789012", "shop-dev-api"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return {}\n"})
    return write_spec(SPEC)


@pytest.fixture
def applied(aws, spec_path, engine):
    eng = engine(spec_path)
    run_quartet(eng)
    return eng


def test_defaults_are_deployed_as_aws_reports_them(aws, applied):
    sse = aws("dynamodb").describe_table(TableName=TABLE)["Table"]["SSEDescription"]
    managed = aws("kms").describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["Arn"]
    assert (sse["Status"], sse["SSEType"], sse["KMSMasterKeyArn"]) == ("ENABLED", "KMS", managed)

    rule, = aws("s3").get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert rule["BucketKeyEnabled"] is True

    topic = "arn:aws:sns:us-east-1:123456789012:shop-dev-events"
    assert aws("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"

    apigateway = aws("apigateway")
    api_id = next(a["id"] for a in apigateway.get_rest_apis()["items"] if a["name"] == API)
    stage = apigateway.get_stage(restApiId=api_id, stageName="prod")
    assert stage["tracingEnabled"] is True
    access = stage["accessLogSettings"]
    assert access["destinationArn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/{API}/prod"
    assert "\n" not in access["format"] and set(json.loads(access["format"])) == {
        "requestId", "ip", "caller", "user", "requestTime", "httpMethod", "resourcePath", "status", "protocol",
        "responseLength"}


def test_table_on_the_aws_owned_key_plans_the_move_to_kms(aws, write_spec, tmp_path, engine):
    """The emulator ignores UpdateTable's SSESpecification, so the drift comes from a table made with the
    opt-out: read back as no KMS key, it is planned onto the AWS managed key."""
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return {}\n"})
    opted_out = engine(write_spec(SPEC.replace("type: S}}", "type: S}, encryption: aws_owned}")))
    opted_out.apply()
    assert "SSEDescription" not in aws("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert not opted_out.plan().has_changes
    assert pending_diffs(engine(write_spec(SPEC)).plan(), "dynamodb_tables.orders") == {
        "kms_key": (None, "alias/aws/dynamodb")}


def test_bucket_switched_to_sse_s3_is_drift_and_repaired(aws, applied):
    aws("s3").put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    diffs = pending_diffs(applied.plan(), "s3_buckets.files")
    assert diffs["encryption.algorithm"] == ("AES256", "aws:kms")
    assert_repaired(applied)


def test_topic_encryption_removed_is_drift_and_repaired(aws, applied):
    topic = "arn:aws:sns:us-east-1:123456789012:shop-dev-events"
    aws("sns").set_topic_attributes(TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue="")
    assert pending_diffs(applied.plan(), "sns_topics.events") == {"kms_key": (None, "alias/aws/sns")}
    assert_repaired(applied)
