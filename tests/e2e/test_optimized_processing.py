"""specs/optimized-processing.yaml (seed 003) end to end: the installed CLI against a moto server, and the
deployed settings the requirement document calls critical, read back with plain boto3."""
from __future__ import annotations

import json

from tests.e2e.conftest import ROOT, apply_converges, owned_arns

SPEC = ROOT / "specs" / "optimized-processing.yaml"
PROJECT = "optimized-processing"
PREFIX = f"{PROJECT}-dev"
ACCOUNT = "123456789012"
TABLE = f"{PREFIX}-records"
FUNCTIONS = {"processor": 512, "validator": 512, "enricher": 768}     # seed 4: right-sized memory
NOT_EMULATED = "alias.provisioned_concurrency: not emulated by this endpoint"


def test_optimized_processing_lifecycle(cli, boto):
    applied = apply_converges(cli, SPEC)
    # seed 1: provisioned concurrency is asked for on the alias; the emulator has no route for it
    for name in ("processor", "validator"):
        assert f"lambda_functions.{name}: {NOT_EMULATED}" in applied.err, applied
    assert f"lambda_functions.enricher: {NOT_EMULATED}" not in applied.err

    # critical settings changed out of band: the 3008 MB the document removed, logs kept forever,
    # fixed 5/5 provisioning instead of on-demand, and the wildcard policy of seed 2
    boto("lambda").update_function_configuration(FunctionName=f"{PREFIX}-enricher", MemorySize=3008)
    boto("logs").delete_retention_policy(logGroupName=f"/aws/lambda/{PREFIX}-processor")
    boto("dynamodb").update_table(TableName=TABLE, BillingMode="PROVISIONED",
                                  ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    boto("iam").put_role_policy(RoleName=f"{PREFIX}-processor", PolicyName="grants", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["dynamodb:*"], "Resource": "*"}]}))
    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "lambda_functions.enricher.memory: 3008 -> 768" in drift.out
    assert "log_groups.processor-logs.retention_days: null -> 7" in drift.out
    assert "dynamodb_tables.records.billing: provisioned -> on_demand" in drift.out
    assert "iam_roles.processor-role.inline_policies.grants" in drift.out
    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert cli("diff", SPEC).code == 0
    policy = boto("iam").get_role_policy(RoleName=f"{PREFIX}-processor", PolicyName="grants")["PolicyDocument"]
    assert "dynamodb:*" not in json.dumps(policy) and '"*"' not in json.dumps(policy)

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, PROJECT, "dev") == []


def test_optimized_processing_deployed_settings_match_the_seed(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    lam, iam = boto("lambda"), boto("iam")
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}-dlq"
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"

    for name, memory in FUNCTIONS.items():
        function = f"{PREFIX}-{name}"
        config = lam.get_function_configuration(FunctionName=function)
        assert (config["MemorySize"], config["Runtime"]) == (memory, "python3.12")
        assert config["Environment"]["Variables"]["TABLE_NAME"] == TABLE
        # seed 1: alias `live` on a published version, not on $LATEST
        alias = lam.get_alias(FunctionName=function, Name="live")
        assert alias["FunctionVersion"] != "$LATEST"
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]]
        assert alias["FunctionVersion"] in versions
        # seed 6: 7-day retention on the function's log group
        groups = boto("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function}")["logGroups"]
        assert [g["retentionInDays"] for g in groups] == [7]
        # seed 8: cost allocation tags
        tags = lam.list_tags(Resource=config["FunctionArn"])["Tags"]
        assert {k: tags[k] for k in ("Project", "Environment", "CostCenter")} == {
            "Project": "DataProcessing", "Environment": "dev", "CostCenter": "Engineering"}
        # seed 2: the role's statements name exact resources, never a wildcard (X-Ray supports only *)
        role = f"{PREFIX}-{name}"
        assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == ["grants", "xray"]
        statements = iam.get_role_policy(RoleName=role, PolicyName="grants")["PolicyDocument"]["Statement"]
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all(not a.endswith("*") for a in actions), statement
            assert "*" not in statement["Resource"], statement
        table_statements = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
        assert [s["Resource"] for s in table_statements] in ([table_arn], [[table_arn]])
        # seed 5: the role may send to the dead-letter queue (DeadLetterConfig itself is dropped by moto)
        assert any(dlq_arn in json.dumps(s["Resource"]) and "sqs:SendMessage" in s["Action"] for s in statements)

    # seed 2: each function gets the access its code needs and no more
    actions = {name: {a for s in iam.get_role_policy(RoleName=f"{PREFIX}-{name}", PolicyName="grants")[
        "PolicyDocument"]["Statement"] for a in s["Action"] if a.startswith("dynamodb:")} for name in FUNCTIONS}
    assert "dynamodb:PutItem" in actions["processor"] and "dynamodb:GetItem" not in actions["processor"]
    assert "dynamodb:GetItem" in actions["validator"] and "dynamodb:PutItem" not in actions["validator"]
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"} <= actions["enricher"]

    # seed 3: on-demand billing, which scales with the load, instead of fixed 5/5 provisioning
    table = boto("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "entity_id": "HASH", "event_time": "RANGE"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    table_tags = {t["Key"]: t["Value"] for t in boto("dynamodb").list_tags_of_resource(
        ResourceArn=table_arn)["Tags"]}
    assert (table_tags["Project"], table_tags["CostCenter"]) == ("DataProcessing", "Engineering")

    # seed 9: an alarm as soon as one message is in the DLQ
    alarm, = boto("cloudwatch").describe_alarms(AlarmNames=[f"{PREFIX}-dlq-messages"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": f"{PREFIX}-dlq"}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0.0)
    assert alarm["AlarmDescription"] == "Alert when messages appear in DLQ"
    sqs = boto("sqs")
    queue_url = sqs.get_queue_url(QueueName=f"{PREFIX}-dlq")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MessageRetentionPeriod"])[
        "Attributes"]["MessageRetentionPeriod"] == "1209600"
    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"]["Project"] == "DataProcessing"
