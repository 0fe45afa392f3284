"""Every reference environment, applied on a fresh emulator and inspected with plain boto3 (not the tool's
reconcilers): what holds data is encrypted, everything carries the spec's tags, the secure defaults are on,
the seed documents' exact values are deployed, and destroy leaves nothing behind."""
from __future__ import annotations

import json

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROOT, apply_converges, leftovers

ACCOUNT = "123456789012"
REGION = "us-east-1"
SPECS = ["market-data", "microservices", "serverless-app", "optimized-processing", "transactions"]
SEED_KMS_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}


def _list(value):
    return value if isinstance(value, list) else [value]


def _tags(pairs, key="Key", value="Value") -> dict:
    return {p[key]: p[value] for p in pairs}


def deployed(boto) -> dict:
    """name -> tags of every resource in the (freshly reset) account, by kind, checking each kind's
    secure settings on the way."""
    found = {}
    dynamodb = boto("dynamodb")
    for name in dynamodb.list_tables()["TableNames"]:
        table = dynamodb.describe_table(TableName=name)["Table"]
        sse = table.get("SSEDescription", {})
        assert (sse.get("Status"), sse.get("SSEType")) == ("ENABLED", "KMS"), (name, sse)
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", name
        found[name] = _tags(dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"])

    s3 = boto("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        rule, = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled", name
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4, (name, block)
        statements = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
        assert any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements), name
        found[name] = _tags(s3.get_bucket_tagging(Bucket=name)["TagSet"])

    sqs = boto("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes.get("KmsMasterKeyId") or attributes.get("SqsManagedSseEnabled") == "true", url
        found[url.rsplit("/", 1)[1]] = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})

    sns = boto("sns")
    for topic in sns.list_topics()["Topics"]:
        arn = topic["TopicArn"]
        assert sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("KmsMasterKeyId"), arn
        found[arn.rsplit(":", 1)[1]] = _tags(sns.list_tags_for_resource(ResourceArn=arn)["Tags"])

    lam, logs = boto("lambda"), boto("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    for function in lam.list_functions()["Functions"]:
        name = function["FunctionName"]
        assert function["TracingConfig"]["Mode"] == "Active", name
        assert groups[f"/aws/lambda/{name}"].get("retentionInDays"), name
        found[name] = lam.list_tags(Resource=function["FunctionArn"])["Tags"]
    for name, group in groups.items():
        assert group.get("retentionInDays"), name
        found[name] = logs.list_tags_log_group(logGroupName=name)["tags"]

    apigateway = boto("apigateway")
    for api in apigateway.get_rest_apis()["items"]:
        for stage in apigateway.get_stages(restApiId=api["id"])["item"]:
            assert stage["tracingEnabled"] is True, api["name"]
            access = stage["accessLogSettings"]
            assert access["destinationArn"].split(":log-group:", 1)[1] in groups, api["name"]
            assert "\n" not in access["format"] and json.loads(access["format"]), api["name"]
        found[api["name"]] = api.get("tags", {})

    states = boto("stepfunctions")
    for machine in states.list_state_machines()["stateMachines"]:
        arn = machine["stateMachineArn"]
        assert states.describe_state_machine(stateMachineArn=arn)["loggingConfiguration"]["level"] != "OFF", arn
        found[machine["name"]] = _tags(states.list_tags_for_resource(resourceArn=arn)["tags"], "key", "value")

    cloudwatch = boto("cloudwatch")
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        if alarm["AlarmName"].startswith("TargetTracking-"):
            continue   # made and deleted by Application Auto Scaling with its target-tracking policies
        found[alarm["AlarmName"]] = _tags(cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"])

    kms = boto("kms")
    aliases = {a["TargetKeyId"]: a["AliasName"] for a in kms.list_aliases()["Aliases"] if "TargetKeyId" in a}
    for key in kms.list_keys()["Keys"]:
        alias = aliases.get(key["KeyId"], key["KeyId"])
        if alias.startswith("alias/aws/"):
            continue   # AWS managed keys (aws/dynamodb, aws/s3, ...) are AWS's
        assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True, alias
        found[alias] = _tags(kms.list_resource_tags(KeyId=key["KeyId"])["Tags"], "TagKey", "TagValue")

    iam = boto("iam")
    for role in iam.list_roles()["Roles"]:
        found[role["RoleName"]] = _tags(iam.list_role_tags(RoleName=role["RoleName"])["Tags"])
    return found


def role_statements(boto) -> list[dict]:
    iam = boto("iam")
    return [statement for role in iam.list_roles()["Roles"]
            for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
            for statement in iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)[
                "PolicyDocument"]["Statement"]]


def queue_policy(boto, queue_arn: str) -> list[dict]:
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"].get("Policy")
    return json.loads(policy)["Statement"] if policy else []


def function_queues(boto, name: str) -> list[str]:
    """The SQS queues a function sends failed (or finished) asynchronous events to."""
    lam = boto("lambda")
    targets = [lam.get_function_configuration(FunctionName=name).get("DeadLetterConfig", {}).get("TargetArn")]
    try:
        destinations = lam.get_function_event_invoke_config(FunctionName=name)["DestinationConfig"]
        targets += [destinations.get(k, {}).get("Destination") for k in ("OnFailure", "OnSuccess")]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return [t for t in targets if t and t.startswith("arn:aws:sqs:")]


@pytest.mark.parametrize("name", SPECS)
def test_reference_environment_is_secure_tagged_and_leaves_nothing(cli, boto, name):
    path = ROOT / "specs" / f"{name}.yaml"
    spec = yaml.safe_load(path.read_text())
    apply_converges(cli, path)

    resources = deployed(boto)
    assert resources
    untagged = {resource: tags for resource, tags in resources.items()
                if {k: tags.get(k) for k in spec["tags"]} != spec["tags"]}
    assert untagged == {}

    # seed 001 item 8: no pattern inside any action, and KMS only the four actions the document names
    for statement in role_statements(boto):
        actions = _list(statement["Action"])
        assert not any("*" in action for action in actions), statement
        assert {a for a in actions if a.startswith("kms:")} <= SEED_KMS_ACTIONS, statement

    # seed 001 item 7: each dead-letter queue lets Lambda send, for its own function only
    lam = boto("lambda")
    for function in lam.list_functions()["Functions"]:
        for queue in function_queues(boto, function["FunctionName"]):
            allowed = [s for s in queue_policy(boto, queue) if s.get("Principal") == {"Service": "lambda.amazonaws.com"}]
            assert [(s["Effect"], s["Action"], s["Resource"], s["Condition"]) for s in allowed] == [
                ("Allow", "sqs:SendMessage", queue, {"ArnEquals": {"aws:SourceArn": function["FunctionArn"]}})]

    assert cli("destroy", path, "--yes").code == 0
    assert leftovers(boto, spec["project"]) == []


def test_market_data_processing_function_gets_the_table_and_bucket_names(cli, boto):
    """Seed 000 items 2 and 10: DYNAMODB_TABLE_NAME and S3_BUCKET_NAME, and nothing else."""
    assert cli("apply", ROOT / "specs" / "market-data.yaml", "--yes").code == 0
    config = boto("lambda").get_function_configuration(FunctionName="market-data-dev-processing")
    assert config["Environment"]["Variables"] == {"DYNAMODB_TABLE_NAME": "market-data-dev-market-data",
                                                  "S3_BUCKET_NAME": f"market-data-dev-data-{ACCOUNT}"}


def test_microservices_data_bucket_expires_objects_and_noncurrent_versions_in_one_rule(cli, boto):
    """Seed 001 item 3: one Enabled rule with an expiration and a noncurrent-version expiration of 7 days."""
    assert cli("apply", ROOT / "specs" / "microservices.yaml", "--yes").code == 0
    rule, = boto("s3").get_bucket_lifecycle_configuration(Bucket=f"microservices-dev-data-{ACCOUNT}")["Rules"]
    assert rule["ID"] == "expire-processed-data" and rule["Status"] == "Enabled"
    assert rule["Expiration"] == {"Days": 30}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7


def test_serverless_app_log_bucket_is_encrypted_with_kms_and_versioned(cli, boto):
    """Seed 002 "Security": the API log bucket like the others, with a key its log delivery may use."""
    assert cli("apply", ROOT / "specs" / "serverless-app.yaml", "--yes").code == 0
    s3, bucket = boto("s3"), f"serverless-app-dev-api-logs-{ACCOUNT}"
    rule, = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    key = rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert boto("kms").describe_key(KeyId=key)["KeyMetadata"]["KeyManager"] == "CUSTOMER"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    key_policy = json.loads(boto("kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    services = {s["Principal"].get("Service") for s in key_policy["Statement"] if isinstance(s["Principal"], dict)}
    assert {"delivery.logs.amazonaws.com", "cloudwatch.amazonaws.com"} <= services


def test_transactions_stage_writes_single_line_json_access_logs_to_a_log_group(cli, boto):
    """Seed 004: the API stage's access logs, one JSON line per request, into a CloudWatch log group."""
    assert cli("apply", ROOT / "specs" / "transactions.yaml", "--yes").code == 0
    apigateway = boto("apigateway")
    api = next(a for a in apigateway.get_rest_apis()["items"] if a["name"] == "transactions-dev-transactions")
    access = apigateway.get_stage(restApiId=api["id"], stageName="prod")["accessLogSettings"]
    group = access["destinationArn"].split(":log-group:", 1)[1]
    assert boto("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupName"] == group
    assert "\n" not in access["format"]
    assert json.loads(access["format"])["requestId"] == "$context.requestId"
