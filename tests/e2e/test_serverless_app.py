"""specs/serverless-app.yaml (seed 002) end to end: the installed CLI against a moto server, and the
deployed settings the failure/fix document calls critical, read back with plain boto3."""
from __future__ import annotations

import base64
import hashlib
import json

from tests.e2e.conftest import ROOT, apply_converges, owned_arns, rest_api_id

SPEC = ROOT / "specs" / "serverless-app.yaml"
PREFIX = "serverless-app-dev"
ACCOUNT = "123456789012"
FUNCTION = f"{PREFIX}-app"
BUCKET = f"{PREFIX}-api-logs-{ACCOUNT}"
ARTIFACTS = f"{PREFIX}-artifacts-{ACCOUNT}"


def test_serverless_app_lifecycle(cli, boto):
    apply_converges(cli, SPEC)

    # critical settings changed out of band: reserved concurrency (seed 2), log retention, stage X-Ray,
    # the 90-day log expiry, the public access block and PITR
    boto("lambda").put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=5)
    boto("logs").put_retention_policy(logGroupName=f"/aws/lambda/{FUNCTION}", retentionInDays=365)
    boto("apigateway").update_stage(restApiId=rest_api_id(boto, f"{PREFIX}-api"), stageName="v1", patchOperations=[
        {"op": "replace", "path": "/tracingEnabled", "value": "false"}])
    boto("s3").put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [{
        "ID": "delete-logs-after-90-days", "Status": "Enabled", "Filter": {"Prefix": ""},
        "Expiration": {"Days": 3650}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
    boto("s3").delete_public_access_block(Bucket=BUCKET)
    boto("dynamodb").update_continuous_backups(
        TableName=f"{PREFIX}-items", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "lambda_functions.app.reserved_concurrency: 5 -> 100" in drift.out
    assert "log_groups.app-logs.retention_days: 365 -> 14" in drift.out
    assert "api_gateways.api.stage.tracing: false -> true" in drift.out
    assert "s3_buckets.api-logs.lifecycle.delete-logs-after-90-days.expire_days: 3650 -> 90" in drift.out
    assert "s3_buckets.api-logs.public_access_block.block_public_policy: false -> true" in drift.out
    assert "dynamodb_tables.items.point_in_time_recovery: false -> true" in drift.out
    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert cli("diff", SPEC).code == 0
    assert boto("lambda").get_function_concurrency(FunctionName=FUNCTION)["ReservedConcurrentExecutions"] == 100

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, "serverless-app", "dev") == []


def test_serverless_app_deployed_settings_match_the_seed(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0

    # seed 10 and "Resilience"/"Cost Optimization": id S / timestamp N, on demand, PITR, streams
    dynamodb = boto("dynamodb")
    table = dynamodb.describe_table(TableName=f"{PREFIX}-items")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"id": "HASH", "timestamp": "RANGE"}
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "id": "S", "timestamp": "N"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    backups = dynamodb.describe_continuous_backups(TableName=f"{PREFIX}-items")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    # seeds 1, 2, 6 and "Monitoring"/"Operational Excellence": handler, concurrency, X-Ray, alias, 14 days
    lam = boto("lambda")
    config = lam.get_function_configuration(FunctionName=FUNCTION)
    assert config["Handler"] == "app.lambda_handler" and config["Runtime"] == "python3.12"
    assert config["TracingConfig"]["Mode"] == "Active"
    assert config["Environment"]["Variables"]["METRICS_NAMESPACE"] == "ServerlessApp"
    assert config["Environment"]["Variables"]["TABLE_NAME"] == f"{PREFIX}-items"
    assert lam.get_function_concurrency(FunctionName=FUNCTION)["ReservedConcurrentExecutions"] == 100
    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    published = [v["Version"] for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
                 if v["Version"] != "$LATEST"]
    assert alias["FunctionVersion"] in published
    groups = boto("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [14]

    # seed 9: the role may send to the DLQ (SendMessage + GetQueueAttributes), and use only its table
    iam = boto("iam")
    policies = {name: iam.get_role_policy(RoleName=FUNCTION, PolicyName=name)["PolicyDocument"]
                for name in iam.list_role_policies(RoleName=FUNCTION)["PolicyNames"]}
    statements = [s for doc in policies.values() for s in doc["Statement"]]

    def allowed(resource: str) -> set:
        return {a for s in statements if s["Effect"] == "Allow" and resource in _list(s["Resource"])
                for a in _list(s["Action"])}

    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}-app-dlq"
    assert {"sqs:SendMessage", "sqs:GetQueueAttributes"} <= allowed(dlq_arn)
    table_actions = allowed(table["TableArn"])
    assert {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem"} <= table_actions
    assert "xray:PutTraceSegments" in allowed("*")
    assert all(resource != "*" for s in statements if not _list(s["Action"])[0].startswith("xray:")
               for resource in _list(s["Resource"]))   # only X-Ray, which supports nothing else, gets "*"
    dlq = boto("sqs").get_queue_attributes(QueueUrl=boto("sqs").get_queue_url(
        QueueName=f"{PREFIX}-app-dlq")["QueueUrl"], AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert dlq["MessageRetentionPeriod"] == "1209600"

    # seed 3 and "Monitoring": one-line access log format, stage X-Ray, stage variables, metrics
    api_id = rest_api_id(boto, f"{PREFIX}-api")
    stage = boto("apigateway").get_stage(restApiId=api_id, stageName="v1")
    assert stage["tracingEnabled"] is True
    assert stage["variables"] == {"logLevel": "INFO"}
    log_format = stage["accessLogSettings"]["format"]
    assert "\n" not in log_format
    assert json.loads(log_format)["requestId"] == "$context.requestId"
    assert stage["accessLogSettings"]["destinationArn"].endswith(f":log-group:/aws/apigateway/{PREFIX}-api/v1")
    assert stage["methodSettings"]["*/*"]["metricsEnabled"] is True
    access_group, = boto("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/apigateway/{PREFIX}-api/v1")["logGroups"]
    assert access_group["retentionInDays"] == 14
    resources = {r["path"]: set(r.get("resourceMethods", {})) for r in
                 boto("apigateway").get_resources(restApiId=api_id)["items"]}
    assert resources["/items"] == {"POST"} and resources["/items/{id}"] == {"GET", "PUT", "DELETE"}
    execution = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}"
    sources = {s["Condition"]["ArnLike"]["AWS:SourceArn"]
               for s in json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]}
    assert sources == {f"{execution}/*/POST/items", f"{execution}/*/GET/items/*",
                       f"{execution}/*/PUT/items/*", f"{execution}/*/DELETE/items/*"}

    # seed 8 and "Security"/"Cost Optimization": log bucket policy, encryption, no public access, 90 days
    s3 = boto("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    delivery = next(s for s in policy["Statement"] if s.get("Sid") == "AllowLogDelivery0")
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert delivery["Action"] in ("s3:PutObject", ["s3:PutObject"])
    assert delivery["Resource"] == f"arn:aws:s3:::{BUCKET}/AWSLogs/*"
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    rule, = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    lifecycle, = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert (lifecycle["ID"], lifecycle["Status"], lifecycle["Expiration"]) == (
        "delete-logs-after-90-days", "Enabled", {"Days": 90})

    # "Monitoring": error-rate (not absolute errors) and duration alarms on the function
    alarms = {a["AlarmName"]: a for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    rate = alarms[f"{PREFIX}-app-error-rate"]
    expression = next(m for m in rate["Metrics"] if "Expression" in m)
    assert "errors / invocations * 100" in expression["Expression"].replace("(", "").replace(")", "")
    dimensions = {d["Value"] for m in rate["Metrics"] if "MetricStat" in m
                  for d in m["MetricStat"]["Metric"]["Dimensions"]}
    assert dimensions == {FUNCTION}
    assert (rate["Threshold"], rate["EvaluationPeriods"]) == (1.0, 2)
    duration = alarms[f"{PREFIX}-app-duration-p99"]
    assert (duration["MetricName"], duration["ExtendedStatistic"], duration["Threshold"]) == (
        "Duration", "p99", 23200.0)
    assert duration["Dimensions"] == [{"Name": "FunctionName", "Value": FUNCTION}]
    assert rate["AlarmActions"] == duration["AlarmActions"] == [f"arn:aws:sns:us-east-1:{ACCOUNT}:{PREFIX}-alerts"]


def test_serverless_app_code_is_deployed_from_s3_and_destroyed_with_its_bucket(cli, boto):
    """Seed 4: the package is a ZIP uploaded to S3 and the function references it by bucket and key."""
    apply_converges(cli, SPEC)   # the second apply makes no write call: no upload again either
    s3, lam = boto("s3"), boto("lambda")
    key, = [o["Key"] for o in s3.list_objects_v2(Bucket=ARTIFACTS)["Contents"]]
    body = s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()
    assert key == f"lambda/{FUNCTION}/{hashlib.sha256(body).hexdigest()}.zip"
    config = lam.get_function_configuration(FunctionName=FUNCTION)
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert config["CodeSize"] == len(body)
    assert body[:4] == b"PK\x03\x04"   # a ZIP
    # the artifacts bucket is secure and owned like every bucket of the environment
    assert s3.get_bucket_versioning(Bucket=ARTIFACTS)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=ARTIFACTS)["ServerSideEncryptionConfiguration"]["Rules"]
    assert all(s3.get_public_access_block(Bucket=ARTIFACTS)["PublicAccessBlockConfiguration"].values())
    statements = json.loads(s3.get_bucket_policy(Bucket=ARTIFACTS)["Policy"])["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=ARTIFACTS)["TagSet"]}
    assert (tags["provisioner:resource"], tags["Application"], tags["Owner"]) == (
        "s3_buckets.artifacts", "serverless-app", "platform")

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert ARTIFACTS not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def _list(value) -> list:
    return value if isinstance(value, list) else [value]
