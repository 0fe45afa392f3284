"""specs/transactions.yaml (seed 004) end to end: the installed CLI against a moto server, and the
deployed settings the requirement document calls critical, read back with plain boto3."""
from __future__ import annotations

import json

from tests.e2e.conftest import ROOT, apply_converges, owned_arns, rest_api_id

SPEC = ROOT / "specs" / "transactions.yaml"
PREFIX = "transactions-dev"
ACCOUNT = "123456789012"
FUNCTIONS = ("transaction-validator", "notification-handler", "analytics-processor", "reporting-processor")


def _queue_attributes(boto, name):
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=f"{PREFIX}-{name}")["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_transactions_lifecycle(cli, boto):
    apply_converges(cli, SPEC)

    # critical settings changed out of band: the validator's concurrency back to the document's 50,
    # X-Ray and caching off on the stage, the analytics queue's redrive removed, the table's write
    # auto scaling shrunk, the log retention dropped, the bucket back to AES256 and a DLQ detached
    lam = boto("lambda")
    lam.put_function_concurrency(FunctionName=f"{PREFIX}-transaction-validator", ReservedConcurrentExecutions=50)
    lam.delete_function_event_invoke_config(FunctionName=f"{PREFIX}-reporting-processor")
    boto("apigateway").update_stage(restApiId=rest_api_id(boto, f"{PREFIX}-transactions"), stageName="prod", patchOperations=[
        {"op": "replace", "path": "/tracingEnabled", "value": "false"},
        {"op": "replace", "path": "/*/*/caching/enabled", "value": "false"}])
    sqs = boto("sqs")
    sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"{PREFIX}-analytics-queue")["QueueUrl"],
                             Attributes={"RedrivePolicy": ""})
    boto("application-autoscaling").register_scalable_target(
        ServiceNamespace="dynamodb", ResourceId=f"table/{PREFIX}-transactions",
        ScalableDimension="dynamodb:table:WriteCapacityUnits", MinCapacity=1, MaxCapacity=10)
    boto("logs").delete_retention_policy(logGroupName=f"/aws/lambda/{PREFIX}-transaction-validator")
    boto("s3").put_bucket_encryption(Bucket=f"{PREFIX}-logs-{ACCOUNT}", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})

    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    for line in (
        "lambda_functions.transaction-validator.reserved_concurrency: 50 -> 100",
        "api_gateways.transactions.stage.tracing: false -> true",
        "api_gateways.transactions.method_settings.*/*.caching: false -> true",
        "sqs_queues.analytics-queue.dead_letter: null -> ",
        f"dynamodb_tables.transactions.autoscaling.table/{PREFIX}-transactions write.min: 1 -> 5",
        f"dynamodb_tables.transactions.autoscaling.table/{PREFIX}-transactions write.max: 10 -> 100",
        "log_groups.transaction-validator-logs.retention_days: null -> 7",
        "s3_buckets.logs.encryption.algorithm: AES256 -> aws:kms",
        "lambda_functions.reporting-processor.async: null -> ",
    ):
        assert line in drift.out, (line, drift.out)
    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert cli("diff", SPEC).code == 0
    assert lam.get_function_concurrency(
        FunctionName=f"{PREFIX}-transaction-validator")["ReservedConcurrentExecutions"] == 100
    assert json.loads(_queue_attributes(boto, "analytics-queue")["RedrivePolicy"])["maxReceiveCount"] == 3

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, "transactions", "dev") == []
    assert boto("cloudwatch").list_dashboards(DashboardNamePrefix=PREFIX)["DashboardEntries"] == []
    assert boto("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="dynamodb")["ScalableTargets"] == []


def test_transactions_deployed_settings_match_the_seed(cli, boto):
    applied = cli("apply", SPEC, "--yes")
    assert applied.code == 0, applied
    lam = boto("lambda")
    api_id = rest_api_id(boto, f"{PREFIX}-transactions")

    # seed 1: AWS_PROXY integration through the apigateway service path, permission for POST /transactions only
    resource = next(r for r in boto("apigateway").get_resources(restApiId=api_id)["items"]
                    if r["path"] == "/transactions")
    integration = boto("apigateway").get_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")
    function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{PREFIX}-transaction-validator"
    assert (integration["type"], integration["httpMethod"]) == ("AWS_PROXY", "POST")
    assert integration["uri"] == (f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                                  f"{function_arn}/invocations")
    statement, = json.loads(lam.get_policy(FunctionName=f"{PREFIX}-transaction-validator")["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/POST/transactions")

    # seed 2, 3, 7, 16: per-function DLQs through the async config, concurrency 100, 7-day logs, X-Ray
    for name in FUNCTIONS:
        config = lam.get_function_configuration(FunctionName=f"{PREFIX}-{name}")
        assert (config["Timeout"], config["TracingConfig"]["Mode"], config["Runtime"]) == (30, "Active", "python3.12")
        assert config.get("Layers", []) == []
        invoke = lam.get_function_event_invoke_config(FunctionName=f"{PREFIX}-{name}")
        assert (invoke["MaximumRetryAttempts"], invoke["MaximumEventAgeInSeconds"]) == (2, 3600)
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == (
            f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}-{name}-dlq")
        dlq = _queue_attributes(boto, f"{name}-dlq")
        assert dlq["MessageRetentionPeriod"] == "1209600" and dlq["KmsMasterKeyId"]
        group = boto("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{PREFIX}-{name}")["logGroups"]
        assert [g["retentionInDays"] for g in group] == [7]
    validator = lam.get_function_configuration(FunctionName=f"{PREFIX}-transaction-validator")
    assert (validator["MemorySize"], validator["Handler"]) == (1536, "validator.handler")
    assert set(validator["Environment"]["Variables"]) >= {"TRANSACTIONS_TABLE", "ANALYTICS_QUEUE_URL",
                                                          "REPORTING_QUEUE_URL", "LOG_LEVEL"}
    assert lam.get_function_concurrency(
        FunctionName=f"{PREFIX}-transaction-validator")["ReservedConcurrentExecutions"] == 100

    # seed 4: least privilege, no Resource "*" outside X-Ray; SNS publish on the one topic
    iam = boto("iam")
    for name in FUNCTIONS:
        role = f"{PREFIX}-{name}"
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            for stmt in iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]["Statement"]:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                assert stmt["Resource"] != "*" or all(a.startswith("xray:") for a in actions), (role, stmt)
    grants = iam.get_role_policy(RoleName=f"{PREFIX}-notification-handler", PolicyName="grants")["PolicyDocument"]
    publish, = [s for s in grants["Statement"] if "sns:Publish" in s["Action"]]
    assert publish["Resource"] == [f"arn:aws:sns:us-east-1:{ACCOUNT}:{PREFIX}-transaction-notifications"]

    # seed 9, 18: provisioned 5/5, auto scaling 5-100 at 70 % on the table and its index, PITR
    dynamodb = boto("dynamodb")
    table = dynamodb.describe_table(TableName=f"{PREFIX}-transactions")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert (table["ProvisionedThroughput"]["ReadCapacityUnits"],
            table["ProvisionedThroughput"]["WriteCapacityUnits"]) == (5, 5)
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"transaction_id": "HASH"}
    index, = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "account-index"
    backups = dynamodb.describe_continuous_backups(TableName=f"{PREFIX}-transactions")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    scaling = boto("application-autoscaling")
    targets = {(t["ResourceId"], t["ScalableDimension"]): (t["MinCapacity"], t["MaxCapacity"])
               for t in scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]}
    table_id, index_id = f"table/{PREFIX}-transactions", f"table/{PREFIX}-transactions/index/account-index"
    assert targets == {(table_id, "dynamodb:table:ReadCapacityUnits"): (5, 100),
                       (table_id, "dynamodb:table:WriteCapacityUnits"): (5, 100),
                       (index_id, "dynamodb:index:ReadCapacityUnits"): (5, 100),
                       (index_id, "dynamodb:index:WriteCapacityUnits"): (5, 100)}
    policies = scaling.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    assert len(policies) == 4
    assert {p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in policies} == {70.0}

    # seed 11, 12, 17: one stage prod with X-Ray, a 0.5 GB cache cluster, encrypted 300 s caching, metrics
    stage = boto("apigateway").get_stage(restApiId=api_id, stageName="prod")
    assert (stage["tracingEnabled"], stage["cacheClusterEnabled"], stage["cacheClusterSize"]) == (True, True, "0.5")
    settings = stage["methodSettings"]["*/*"]
    assert (settings["cachingEnabled"], settings["cacheTtlInSeconds"], settings["cacheDataEncrypted"],
            settings["metricsEnabled"], settings["dataTraceEnabled"]) == (True, 300, True, True, False)

    # seed 13, 14, 15: KMS encryption with a bucket key, all public access blocked, versioning, lifecycle
    s3 = boto("s3")
    bucket = f"{PREFIX}-logs-{ACCOUNT}"
    rule, = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lifecycle, = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (lifecycle["ID"], lifecycle["Filter"], lifecycle["Expiration"]) == (
        "archive-old-logs", {"Prefix": "logs/"}, {"Days": 365})
    assert lifecycle["Transitions"] == [{"Days": 7, "StorageClass": "GLACIER"}]

    # seed 19: analytics and reporting queues redrive to their own DLQs; the processors poll them
    for name in ("analytics", "reporting"):
        queue = _queue_attributes(boto, f"{name}-queue")
        assert (queue["VisibilityTimeout"], queue["MessageRetentionPeriod"]) == ("300", "86400")
        assert json.loads(queue["RedrivePolicy"]) == {
            "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}-{name}-dlq", "maxReceiveCount": 3}
        assert _queue_attributes(boto, f"{name}-dlq")["MessageRetentionPeriod"] == "1209600"
        mapping, = lam.list_event_source_mappings(FunctionName=f"{PREFIX}-{name}-processor")["EventSourceMappings"]
        assert mapping["EventSourceArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}-{name}-queue"
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    # seed 6: error-rate metric math above 1 % for two periods, to the alerts topic
    alarms = {a["AlarmName"]: a for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    assert set(alarms) == {f"{PREFIX}-{name}-error-rate" for name in FUNCTIONS}
    for name in FUNCTIONS:
        alarm = alarms[f"{PREFIX}-{name}-error-rate"]
        assert "MetricName" not in alarm
        expression = next(m for m in alarm["Metrics"] if "Expression" in m)
        assert "errors / invocations * 100" in expression["Expression"].replace("(", "").replace(")", "")
        assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["ComparisonOperator"]) == (
            1.0, 2, "GreaterThanThreshold")
        assert alarm["AlarmActions"] == [f"arn:aws:sns:us-east-1:{ACCOUNT}:{PREFIX}-alerts"]

    # seed 20: the dashboard body holds physical names, nothing unresolved
    body = boto("cloudwatch").get_dashboard(DashboardName=f"{PREFIX}-overview")["DashboardBody"]
    assert "${" not in body
    for name in FUNCTIONS:
        assert f'"{PREFIX}-{name}"' in body
    assert f'"{PREFIX}-transactions"' in body
