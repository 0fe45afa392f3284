"""specs/microservices.yaml (seed 001) end to end: the installed CLI against a moto server, and the
deployed settings the failure/fix document calls critical, read back with plain boto3."""
from __future__ import annotations

import json

from tests.e2e.conftest import ROOT, apply_converges, owned_arns, rest_api_id

SPEC = ROOT / "specs" / "microservices.yaml"
PREFIX = "microservices-dev"
ACCOUNT = "123456789012"
REGION = "us-east-1"
SERVICES = ("user-service", "order-service", "product-service")


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _vpc_id(boto) -> str:
    vpc, = boto("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-main"]}])["Vpcs"]
    return vpc["VpcId"]


def _distribution(boto) -> dict:
    cloudfront = boto("cloudfront")
    for item in cloudfront.list_distributions()["DistributionList"].get("Items", []):
        tags = {t["Key"]: t["Value"] for t in
                cloudfront.list_tags_for_resource(Resource=item["ARN"])["Tags"].get("Items", [])}
        if tags.get("provisioner:project") == "microservices":
            return cloudfront.get_distribution(Id=item["Id"])["Distribution"]
    raise AssertionError("no distribution of the environment")


def test_microservices_lifecycle(cli, boto):
    apply_converges(cli, SPEC)

    # critical settings changed out of band: a function's DLQ-less concurrency (seed 2), a GSI-bearing
    # table's PITR (seed 1), log retention (seed 12), the geo restriction (seed 14), the endpoint
    # policy (seed 13) and the workflow's rule target (seed 7)
    boto("lambda").put_function_concurrency(FunctionName=f"{PREFIX}-order-service", ReservedConcurrentExecutions=2)
    boto("dynamodb").update_continuous_backups(
        TableName=f"{PREFIX}-orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    boto("logs").put_retention_policy(logGroupName=f"/aws/lambda/{PREFIX}-user-service", retentionInDays=30)
    cloudfront = boto("cloudfront")
    distribution = _distribution(boto)
    found = cloudfront.get_distribution_config(Id=distribution["Id"])
    config = found["DistributionConfig"]
    config["Restrictions"]["GeoRestriction"] = {"RestrictionType": "none", "Quantity": 0}
    cloudfront.update_distribution(Id=distribution["Id"], IfMatch=found["ETag"], DistributionConfig=config)
    ec2 = boto("ec2")
    endpoint, = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [_vpc_id(boto)]}])["VpcEndpoints"]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], PolicyDocument=json.dumps({
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}]}))

    drift = cli("diff", SPEC)
    assert drift.code == 2, drift
    assert "lambda_functions.order-service.reserved_concurrency: 2 -> 10" in drift.out
    assert "dynamodb_tables.orders.point_in_time_recovery: false -> true" in drift.out
    assert "log_groups.user-service-logs.retention_days: 30 -> 7" in drift.out
    assert "cloudfront_distributions.content-cdn.geo_restriction" in drift.out
    assert "vpcs.main.gateway_endpoints.dynamodb.policy" in drift.out
    repaired = cli("apply", SPEC, "--yes")
    assert repaired.code == 0, repaired
    assert cli("diff", SPEC).code == 0
    restriction = _distribution(boto)["DistributionConfig"]["Restrictions"]["GeoRestriction"]
    assert (restriction["RestrictionType"], sorted(restriction["Items"])) == ("whitelist", ["CA", "DE", "GB", "US"])

    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, "microservices", "dev") == []
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-main"]}])["Vpcs"] == []


def test_microservices_deployed_settings_match_the_seed(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    key_arn = boto("kms").describe_key(KeyId=f"alias/{PREFIX}-data")["KeyMetadata"]["Arn"]
    assert boto("kms").get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True

    # seed 1: domain keys, GSIs per query pattern, PITR, KMS
    dynamodb = boto("dynamodb")
    expected = {"users": ("userId", {"email-index"}), "orders": ("orderId", {"userId-index", "status-index"}),
                "products": ("productId", {"category-index"})}
    table_arns = {}
    for name, (key, indexes) in expected.items():
        table = dynamodb.describe_table(TableName=f"{PREFIX}-{name}")["Table"]
        table_arns[name] = table["TableArn"]
        assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == indexes
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["SSEType"] == "KMS" and table["SSEDescription"]["KMSMasterKeyArn"] == key_arn
        backups = dynamodb.describe_continuous_backups(TableName=f"{PREFIX}-{name}")["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    # seed 2 and 12: 512 MB, 30 s, 10 reserved, X-Ray, a KMS-encrypted DLQ each, 7-day logs; python3.12, since
    # the document's python3.11 is past its deprecation date
    lam, sqs, logs = boto("lambda"), boto("sqs"), boto("logs")
    for service in SERVICES:
        name = f"{PREFIX}-{service}"
        config = lam.get_function_configuration(FunctionName=name)
        assert (config["MemorySize"], config["Timeout"], config["Runtime"]) == (512, 30, "python3.12")
        assert config["TracingConfig"]["Mode"] == "Active"
        assert config["Handler"] == service.replace("-", "_") + ".handler"
        assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 10
        dlq = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"],
                                       AttributeNames=["All"])["Attributes"]
        assert dlq["KmsMasterKeyId"] == key_arn and dlq["KmsDataKeyReusePeriodSeconds"] == "300"
        group, = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
        assert (group["retentionInDays"], group["kmsKeyId"]) == (7, key_arn)
    variables = lam.get_function_configuration(FunctionName=f"{PREFIX}-order-service")["Environment"]["Variables"]
    secret = boto("secretsmanager").describe_secret(SecretId=f"{PREFIX}-api")
    assert variables["API_SECRET_ARN"] == secret["ARN"] and secret["KmsKeyId"] in (key_arn, key_arn.split("/")[-1])
    assert len(boto("secretsmanager").get_secret_value(SecretId=secret["ARN"])["SecretString"]) == 48

    # seed 8: no wildcard resources; the order service reads exactly its secret and its tables (+ indexes)
    iam = boto("iam")
    role = f"{PREFIX}-order-service"
    statements = [s for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
                  for s in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]]
    resources = {r for s in statements for r in _list(s["Resource"])}
    for statement in statements:   # only X-Ray, which supports nothing else, gets "*"
        if "*" in _list(statement["Resource"]):
            assert all(a.startswith("xray:") for a in _list(statement["Action"])), statement
    assert f"{table_arns['orders']}/index/*" in resources and table_arns["products"] not in resources
    secret_actions = {a for s in statements for r in _list(s["Resource"]) if r.startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{PREFIX}-api") for a in _list(s["Action"])}
    assert secret_actions == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}

    # seed 3 and 4: incoming/*.csv to the product service, lifecycle, aws:kms with the bucket key
    s3 = boto("s3")
    data = f"{PREFIX}-data-{ACCOUNT}"
    notification, = s3.get_bucket_notification_configuration(Bucket=data)["LambdaFunctionConfigurations"]
    rules = {r["Name"].lower(): r["Value"] for r in notification["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "incoming/", "suffix": ".csv"}
    assert notification["LambdaFunctionArn"].endswith(f":function:{PREFIX}-product-service")
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=data)["Rules"]}
    assert lifecycle["expire-processed-data"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    for bucket in (data, f"{PREFIX}-content-{ACCOUNT}"):
        rule, = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert rule["BucketKeyEnabled"] is True

    # seed 6: six AWS_PROXY routes, one permission per method and path
    api_id = rest_api_id(boto, f"{PREFIX}-api")
    apigateway = boto("apigateway")
    methods = {r["path"]: set(r.get("resourceMethods", {})) for r in apigateway.get_resources(restApiId=api_id)["items"]}
    assert {p: m for p, m in methods.items() if m} == {p: {"GET", "POST"} for p in ("/users", "/orders", "/products")}
    integration = apigateway.get_integration(restApiId=api_id, resourceId=next(
        r["id"] for r in apigateway.get_resources(restApiId=api_id)["items"] if r["path"] == "/orders"),
        httpMethod="POST")
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-order-service"
    assert integration["type"] == "AWS_PROXY" and integration["httpMethod"] == "POST"
    assert integration["uri"] == (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                                  f"{function_arn}/invocations")
    stage = apigateway.get_stage(restApiId=api_id, stageName="dev")
    assert stage["tracingEnabled"] is True

    # seed 10: lambda:invoke integrations, retry 2 s x 3 backoff 2, catch to the error state, logs + X-Ray
    machine = boto("stepfunctions").describe_state_machine(
        stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{PREFIX}-order-workflow")
    states = json.loads(machine["definition"])["States"]
    for name in ("ValidateUser", "ProcessOrder", "UpdateInventory"):
        assert states[name]["Resource"] == "arn:aws:states:::lambda:invoke"
        assert states[name]["Retry"] == [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3,
                                          "BackoffRate": 2.0}]
        assert states[name]["Catch"][0]["Next"] == "HandleError"
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["tracingConfiguration"]["enabled"] is True

    # seed 7: EventBridge starts the workflow through a role allowed exactly that, with a DLQ
    events = boto("events")
    target, = events.list_targets_by_rule(Rule=f"{PREFIX}-order-placed")["Targets"]
    assert target["Arn"] == machine["stateMachineArn"]
    assert target["DeadLetterConfig"]["Arn"].endswith(f":{PREFIX}-order-events-dlq")
    role_name = target["RoleArn"].rsplit("/", 1)[-1]
    role_statements = [s for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"] for s in
                       iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]["Statement"]]
    assert {(a, r) for s in role_statements for a in _list(s["Action"]) for r in _list(s["Resource"])} == {
        ("states:StartExecution", machine["stateMachineArn"])}

    # seed 5: error-rate percentages with metric math, over 2 periods, not absolute counts
    alarms = {a["AlarmName"]: a for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    for service in SERVICES:
        rate = alarms[f"{PREFIX}-{service}-error-rate"]
        assert (rate["Threshold"], rate["EvaluationPeriods"], rate["TreatMissingData"]) == (1.0, 2, "notBreaching")
        assert any("Expression" in m for m in rate["Metrics"])
    assert any("Expression" in m for m in alarms[f"{PREFIX}-api-5xx-rate"]["Metrics"])

    # seed 13: private subnets only, a DynamoDB gateway endpoint on their route tables naming the tables
    ec2 = boto("ec2")
    vpc_id = _vpc_id(boto)
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.0.0.0/24", "10.0.1.0/24"]
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)
    assert ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
        "InternetGateways"] == []
    endpoint, = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    assert endpoint["VpcEndpointType"] == "Gateway" and endpoint["ServiceName"] == f"com.amazonaws.{REGION}.dynamodb"
    assert len(endpoint["RouteTableIds"]) == 2
    policy_resources = {r for s in json.loads(endpoint["PolicyDocument"])["Statement"] for r in _list(s["Resource"])}
    assert set(table_arns.values()) <= policy_resources and "*" not in policy_resources

    # seed 14: CloudFront with origin access control, the bucket readable by exactly that distribution
    distribution = _distribution(boto)
    config = distribution["DistributionConfig"]
    assert config["PriceClass"] == "PriceClass_100" and config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    geo = config["Restrictions"]["GeoRestriction"]
    assert (geo["RestrictionType"], sorted(geo["Items"])) == ("whitelist", ["CA", "DE", "GB", "US"])
    content_policy = json.loads(s3.get_bucket_policy(Bucket=f"{PREFIX}-content-{ACCOUNT}")["Policy"])
    reader = next(s for s in content_policy["Statement"]
                  if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"})
    assert reader["Condition"]["ArnEquals"]["aws:SourceArn"] == distribution["ARN"]
    assert _list(reader["Action"]) == ["s3:GetObject"]
