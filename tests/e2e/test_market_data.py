"""specs/market-data.yaml (seed 000) end to end: the installed CLI against a moto server, and the
deployed settings the requirement document calls critical, read back with plain boto3."""
from __future__ import annotations

import json

from tests.e2e.conftest import ROOT, apply_converges, owned_arns, rest_api_id

SPEC = ROOT / "specs" / "market-data.yaml"
PREFIX = "market-data-dev"
ACCOUNT = "123456789012"


def test_market_data_lifecycle(cli, boto):
    apply_converges(cli, SPEC)

    # critical settings changed out of band: concurrency, memory and the API's throttling
    lam = boto("lambda")
    lam.put_function_concurrency(FunctionName=f"{PREFIX}-processing", ReservedConcurrentExecutions=5)
    lam.update_function_configuration(FunctionName=f"{PREFIX}-processing", MemorySize=512)
    boto("apigateway").update_stage(restApiId=rest_api_id(boto, f"{PREFIX}-market"), stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "10"}])
    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "lambda_functions.processing.reserved_concurrency: 5 -> 100" in drift.out
    assert "lambda_functions.processing.memory: 512 -> 3072" in drift.out
    assert "api_gateways.market.method_settings.*/*.throttling_rate: 10.0 -> 1000.0" in drift.out
    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert cli("diff", SPEC).code == 0

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, "market-data", "dev") == []
    assert boto("cloudwatch").list_dashboards(DashboardNamePrefix=PREFIX)["DashboardEntries"] == []


def test_market_data_deployed_settings_match_the_seed(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    table = boto("dynamodb").describe_table(TableName=f"{PREFIX}-market-data")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"symbol": "HASH", "timestamp": "RANGE"}
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "symbol": "S", "timestamp": "N"}

    lam = boto("lambda")
    for name in ("processing", "upload", "status"):
        config = lam.get_function_configuration(FunctionName=f"{PREFIX}-{name}")
        assert (config["MemorySize"], config["Timeout"], config["TracingConfig"]["Mode"]) == (3072, 300, "Active")
        invoke = lam.get_function_event_invoke_config(FunctionName=f"{PREFIX}-{name}")
        assert invoke["MaximumRetryAttempts"] == 2
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"].endswith(f":{PREFIX}-{name}-dlq")
        group = boto("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{PREFIX}-{name}")["logGroups"]
        assert [g["retentionInDays"] for g in group] == [7]
    assert lam.get_function_concurrency(FunctionName=f"{PREFIX}-processing")["ReservedConcurrentExecutions"] == 100
    dlq = boto("sqs").get_queue_attributes(QueueUrl=boto("sqs").get_queue_url(
        QueueName=f"{PREFIX}-processing-dlq")["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert (dlq["MessageRetentionPeriod"], dlq["VisibilityTimeout"]) == ("1209600", "1800")

    bucket = f"{PREFIX}-data-{ACCOUNT}"
    s3 = boto("s3")
    notification, = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert {r["Name"].lower(): r["Value"] for r in notification["Filter"]["Key"]["FilterRules"]} == {
        "prefix": "incoming/", "suffix": ".csv"}
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["delete-processed-files"]["Expiration"] == {"Days": 30}
    assert rules["delete-processed-files"]["Filter"] == {"Prefix": "processed/"}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}

    api_id = rest_api_id(boto, f"{PREFIX}-market")
    stage = boto("apigateway").get_stage(restApiId=api_id, stageName="prod")
    settings = stage["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (1000.0, 2000)
    execution = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}"
    for name, source in (("upload", f"{execution}/*/POST/upload"), ("status", f"{execution}/*/GET/status/*")):
        statement, = json.loads(lam.get_policy(FunctionName=f"{PREFIX}-{name}")["Policy"])["Statement"]
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == source

    alarms = {a["AlarmName"]: a for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    rate = alarms[f"{PREFIX}-processing-error-rate"]
    expression = next(m for m in rate["Metrics"] if "Expression" in m)
    assert "errors / invocations * 100" in expression["Expression"].replace("(", "").replace(")", "")
    assert (rate["Threshold"], rate["EvaluationPeriods"], rate["ComparisonOperator"]) == (
        1.0, 2, "GreaterThanThreshold")
    assert rate["AlarmActions"] == [f"arn:aws:sns:us-east-1:{ACCOUNT}:{PREFIX}-alerts"]

    machine = boto("stepfunctions").describe_state_machine(
        stateMachineArn=f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{PREFIX}-processing-workflow")
    definition = json.loads(machine["definition"])
    task = definition["States"]["ProcessData"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"]["FunctionName"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{PREFIX}-processing"
    assert task["Retry"][0]["MaxAttempts"] == 2 and task["Catch"][0]["Next"] == "HandleError"

    body = boto("cloudwatch").get_dashboard(DashboardName=f"{PREFIX}-overview")["DashboardBody"]
    assert "${" not in body and f"{PREFIX}-processing" in body
