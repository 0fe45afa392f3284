"""specs/example.yaml through its whole life with the installed CLI against a moto server."""
from __future__ import annotations

import json

from tests.e2e.conftest import ROOT, owned_arns

SPEC = ROOT / "specs" / "example.yaml"
BUCKET = "shop-dev-receipts-123456789012"
ROLE = "shop-dev-order-worker"
FUNCTION = "shop-dev-order-processor"


def test_example_validates_applies_detects_drift_repairs_and_destroys(cli, boto):
    assert cli("validate", SPEC, endpoint_flag=False).code == 0

    first = cli("diff", SPEC)
    assert first.code == 2, first
    assert "12 to create" in first.out

    applied = cli("apply", SPEC, "--yes")
    assert applied.code == 0, applied
    assert "12 created" in applied.out

    in_sync = cli("diff", SPEC)
    assert in_sync.code == 0, in_sync
    assert "No changes" in in_sync.out

    second = cli("apply", SPEC, "--yes", "--output", "json")
    assert second.code == 0, second
    summary = second.json()
    assert summary["api_calls"]["writes"] == 0, summary["api_calls"]
    assert summary["api_calls"]["total"] > 0

    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="shop-dev-orders")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"})
    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "sqs_queues.orders.retention_seconds: 60 -> 345600" in drift.out

    s3 = boto("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket_lifecycle(Bucket=BUCKET)
    boto("lambda").update_function_configuration(FunctionName=FUNCTION, MemorySize=128, Timeout=3)
    iam = boto("iam")
    iam.put_role_policy(RoleName="shop-dev-order-worker", PolicyName="grants", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}))
    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "s3_buckets.receipts.versioning: Suspended -> Enabled" in drift.out
    assert "s3_buckets.receipts.lifecycle" in drift.out
    assert "lambda_functions.order-processor.memory: 128 -> 256" in drift.out
    assert "lambda_functions.order-processor.timeout: 3 -> 20" in drift.out
    assert "iam_roles.order-worker.inline_policies.grants.Statement.QueueOrdersConsume: (absent)" in drift.out

    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert "4 updated" in repaired.out
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    config = boto("lambda").get_function_configuration(FunctionName=FUNCTION)
    assert (config["MemorySize"], config["Timeout"]) == (256, 20)
    assert boto("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "2"
    assert cli("diff", SPEC).code == 0

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert "12 deleted" in destroyed.out
    assert owned_arns(boto, "shop", "dev") == []
    assert boto("kms").list_aliases()["Aliases"] == [] or all(
        a["AliasName"] != "alias/shop-dev-data" for a in boto("kms").list_aliases()["Aliases"])

    again = cli("destroy", SPEC, "--yes")
    assert again.code == 0, again
    assert "Nothing to destroy" in again.out


def test_deployed_settings_match_the_spec(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="shop-dev-orders")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    key_arn = boto("kms").describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["Arn"]
    assert attrs["VisibilityTimeout"] == "120"
    assert attrs["KmsMasterKeyId"] == key_arn
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 3 and redrive["deadLetterTargetArn"].endswith(":shop-dev-orders-dlq")
    policy = json.loads(attrs["Policy"])
    sources = [s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in policy["Statement"]]
    assert sorted(sources) == ["arn:aws:s3:::" + BUCKET, "arn:aws:sns:us-east-1:123456789012:shop-dev-order-events"]

    table = boto("dynamodb").describe_table(TableName="shop-dev-orders")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key_arn
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-status"]
    backups = boto("dynamodb").describe_continuous_backups(TableName="shop-dev-orders")
    assert backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"

    topic_arn = "arn:aws:sns:us-east-1:123456789012:shop-dev-order-events"
    subs = boto("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [s["Protocol"] for s in subs] == ["sqs"]
    tags = {t["Key"]: t["Value"] for t in boto("sns").list_tags_for_resource(ResourceArn=topic_arn)["Tags"]}
    assert tags["provisioner:resource"] == "sns_topics.order-events"
    assert tags["CostCenter"] == "engineering" and tags["ManagedBy"] == "provisioner"

    s3 = boto("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert rule["BucketKeyEnabled"] is True
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    assert rules["expire-scratch"]["Expiration"] == {"Days": 7}
    assert rules["archive"]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert rules["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["old-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    notification = s3.get_bucket_notification_configuration(Bucket=BUCKET)["QueueConfigurations"][0]
    assert notification["QueueArn"].endswith(":shop-dev-orders")
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    filters = {f["Name"].lower(): f["Value"] for f in notification["Filter"]["Key"]["FilterRules"]}
    assert filters == {"prefix": "incoming/", "suffix": ".json"}
    bucket_policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in bucket_policy["Statement"])
    queue_policy = json.loads(attrs["Policy"])
    assert any(s["Principal"] == {"Service": "s3.amazonaws.com"} for s in queue_policy["Statement"])

    iam = boto("iam")
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["Service"] in ("lambda.amazonaws.com", ["lambda.amazonaws.com"])
    grants = iam.get_role_policy(RoleName=ROLE, PolicyName="grants")["PolicyDocument"]["Statement"]
    resources = [r for s in grants for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert "*" not in resources
    assert f"arn:aws:s3:::{BUCKET}/incoming/*" in resources
    assert not any(a.endswith(":*") for s in grants for a in s["Action"])

    group = boto("logs").describe_log_groups(logGroupNamePrefix="shop-dev-order-worker")["logGroups"][0]
    assert group["retentionInDays"] == 30 and group["kmsKeyId"] == key_arn

    lam = boto("lambda")
    function = lam.get_function(FunctionName=FUNCTION)
    config = function["Configuration"]
    assert (config["MemorySize"], config["Timeout"], config["Handler"]) == (256, 20, "orders.handler")
    assert config["TracingConfig"]["Mode"] == "Active"
    assert config["Environment"]["Variables"] == {"TABLE_NAME": "shop-dev-orders", "RETENTION_DAYS": "365"}
    assert config["Role"] == f"arn:aws:iam::123456789012:role/{FUNCTION}"
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 10
    invoke = lam.get_function_event_invoke_config(FunctionName=FUNCTION)
    assert invoke["MaximumRetryAttempts"] == 2 and invoke["MaximumEventAgeInSeconds"] == 3600
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"].endswith(":shop-dev-orders-dlq")
    assert lam.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "1"
    mapping, = lam.list_event_source_mappings(FunctionName=FUNCTION)["EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith(":shop-dev-orders") and mapping["BatchSize"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    permission, = json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]
    assert permission["Principal"] == {"Service": "s3.amazonaws.com"}
    assert permission["Condition"] == {"ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::{BUCKET}"},
                                       "StringEquals": {"AWS:SourceAccount": "123456789012"}}
    lambda_notification = s3.get_bucket_notification_configuration(Bucket=BUCKET)["LambdaFunctionConfigurations"]
    assert [n["LambdaFunctionArn"].rsplit(":", 1)[-1] for n in lambda_notification] == [FUNCTION]
    function_group = boto("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert [(g["retentionInDays"], g["kmsKeyId"]) for g in function_group] == [(14, key_arn)]
    role_statements = iam.get_role_policy(RoleName=FUNCTION, PolicyName="grants")["PolicyDocument"]["Statement"]
    role_resources = {r for s in role_statements for r in s["Resource"]}
    assert "*" not in role_resources
    assert f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/{FUNCTION}:log-stream:*" in role_resources

    scaling = boto("application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]
    assert {(t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]) for t in targets} == {
        ("dynamodb:table:ReadCapacityUnits", 5, 50), ("dynamodb:table:WriteCapacityUnits", 5, 25)}
    policies = scaling.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    assert sorted(p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in policies) == [70.0, 70.0]

    outputs = cli("outputs", SPEC)
    assert outputs.code == 0, outputs
    data = outputs.json()
    assert data["sqs_queues.orders"]["url"] == url
    assert data["kms_keys.data"]["arn"] == key_arn


def test_what_the_emulator_lacks_is_reported_not_claimed(cli):
    applied = cli("apply", SPEC, "--yes")
    assert applied.code == 0, applied
    assert "contributor_insights: not emulated by this endpoint" in applied.err
    assert "alias.provisioned_concurrency: not emulated by this endpoint" in applied.err
    diff = cli("diff", SPEC)
    assert diff.code == 0
    assert "contributor_insights: not emulated" in diff.out
    assert "alias.provisioned_concurrency: not emulated" in diff.out
    assert "dead_letter_queue: not returned by this endpoint" in diff.out
