"""S3 buckets, IAM roles with grants, and log groups on moto (in-process)."""
from __future__ import annotations

import json

import pytest

from provisioner.errors import SpecError
from provisioner.policy.grants import (
    ACCESS_LEVELS,
    DYNAMODB_READ,
    DYNAMODB_WRITE,
    S3_OBJECT_READ,
    compile_grants,
    grant_target,
)
from provisioner.policy.lint import parliament_findings
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import pending, pending_diffs

SPEC = """
version: 1
project: shop
environment: dev
kms_keys:
  data: {deletion_window_days: 7}
log_groups:
  app: {retention_days: 14, kms_key: data}
sqs_queues:
  uploads: {kms_key: data}
dynamodb_tables:
  market:
    partition_key: {name: symbol, type: S}
    global_indexes: {by-day: {partition_key: {name: day, type: S}}}
s3_buckets:
  data:
    encryption: {kms_key: data}
    lifecycle:
      - {id: tmp, prefix: tmp/, expire_days: 7}
      - {id: mpu, abort_multipart_days: 7}
    notifications:
      - {sqs_queue: uploads, events: ["s3:ObjectCreated:*"], prefix: incoming/, suffix: .csv}
iam_roles:
  worker:
    services: [lambda.amazonaws.com]
    grants:
      - {dynamodb_table: market, access: read_write}
      - {s3_bucket: data, access: read, prefix: incoming/}
      - {log_group: app, access: write}
"""
BUCKET = "shop-dev-data-123456789012"


def _statements(aws, role="shop-dev-worker", policy="grants"):
    document = aws("iam").get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    return {s["Sid"]: s for s in document["Statement"]}


def test_quartet_and_deployed_settings(write_spec, engine, aws):
    e = engine(write_spec(SPEC))
    assert e.plan().has_changes
    e.apply()
    assert not e.plan().has_changes
    e.apply()
    assert e.calls.writes == 0

    s3 = aws("s3")
    key_arn = aws("kms").describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["Arn"]
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyInsecureTransport"]
    queue_config = s3.get_bucket_notification_configuration(Bucket=BUCKET)["QueueConfigurations"][0]
    assert queue_config["QueueArn"].endswith(":shop-dev-uploads")
    url = aws("sqs").get_queue_url(QueueName="shop-dev-uploads")["QueueUrl"]
    queue_policy = json.loads(aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
                              ["Attributes"]["Policy"])
    statement = queue_policy["Statement"][0]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{BUCKET}"
    key_policy = json.loads(aws("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    assert {"AccountRootAdministers", "AllowS3", "AllowCloudWatchLogs"} <= {s["Sid"] for s in key_policy["Statement"]}

    group = aws("logs").describe_log_groups(logGroupNamePrefix="shop-dev-app")["logGroups"][0]
    assert group["retentionInDays"] == 14 and group["kmsKeyId"] == key_arn


def test_grants_compile_to_exact_actions_on_exact_arns(write_spec, engine, aws):
    engine(write_spec(SPEC)).apply()
    statements = _statements(aws)
    table = statements["TableMarketReadWrite"]
    assert table["Action"] == sorted(set(DYNAMODB_READ + DYNAMODB_WRITE))
    table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-dev-market"
    assert table["Resource"] == [table_arn, table_arn + "/index/*"]
    assert all(sid.isalnum() for sid in statements)   # IAM rejects any other Sid
    objects = statements["ObjectsDataIncomingRead"]
    assert objects["Action"] == sorted(S3_OBJECT_READ)
    assert objects["Resource"] == [f"arn:aws:s3:::{BUCKET}/incoming/*"]
    listing = statements["ListDataIncoming"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*"]}}
    assert statements["KeyData"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    for statement in statements.values():
        assert "*" not in statement["Resource"]


@pytest.mark.parametrize("out_of_band, field", [
    (lambda s3: s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"}),
     "versioning"),
    (lambda s3: s3.delete_bucket_encryption(Bucket=BUCKET), "encryption"),
    (lambda s3: s3.delete_public_access_block(Bucket=BUCKET), "public_access_block.block_public_acls"),
    (lambda s3: s3.delete_bucket_lifecycle(Bucket=BUCKET), "lifecycle.tmp"),
    (lambda s3: s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={}),
     "notifications"),
    (lambda s3: s3.delete_bucket_policy(Bucket=BUCKET), "policy"),
    (lambda s3: s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [
        {"Key": "provisioner:project", "Value": "shop"}, {"Key": "provisioner:environment", "Value": "dev"},
        {"Key": "provisioner:resource", "Value": "s3_buckets.data"}]}), "tags.Project"),
])
def test_bucket_drift_is_detected_and_repaired(write_spec, engine, aws, out_of_band, field):
    e = engine(write_spec(SPEC))
    e.apply()
    out_of_band(aws("s3"))
    plan = e.plan()
    changed = [c for c in plan.pending if c.address == "s3_buckets.data"]
    assert changed and changed[0].action == "update"
    assert any(d.path == field or d.path.startswith(field + ".") for d in changed[0].diffs), changed[0].diffs
    e.apply()
    assert not e.plan().has_changes


def test_role_drift_is_detected_and_repaired(write_spec, engine, aws):
    e = engine(write_spec(SPEC))
    e.apply()
    aws("iam").delete_role_policy(RoleName="shop-dev-worker", PolicyName="grants")
    aws("iam").update_role(RoleName="shop-dev-worker", MaxSessionDuration=7200)
    paths = {d.path for c in e.plan().pending for d in c.diffs}
    assert {"inline_policies.grants", "max_session_duration"} <= paths
    e.apply()
    assert not e.plan().has_changes


LOG_GROUPS = """
version: 1
project: shop
environment: dev
log_groups:
  app: {retention_days: 14}
  audit: {retention_days: 30}
  jobs: {retention_days: 7}
  gone: {retention_days: 7}
  legacy: {name: "legacy-{name}", retention_days: 7}
"""


def test_log_groups_are_read_with_one_listing_per_name_prefix(write_spec, engine, aws):
    e = engine(write_spec(LOG_GROUPS))
    e.apply()
    logs = aws("logs")
    logs.put_retention_policy(logGroupName="shop-dev-audit", retentionInDays=90)
    logs.delete_log_group(logGroupName="shop-dev-gone")
    logs.create_log_group(logGroupName="shop-dev-gone-archive")   # starts with the missing name: not it
    plan = e.plan()
    # one listing for "shop-dev-" (app, audit, jobs, gone), one for "legacy-legacy" (no environment prefix)
    assert e.calls.calls[("logs", "DescribeLogGroups")] == 2, e.calls.summary()
    changes = pending(plan)
    assert {address: c.action for address, c in changes.items()} == {
        "log_groups.audit": "update", "log_groups.gone": "create"}
    assert pending_diffs(plan, "log_groups.audit") == {"retention_days": (90, 30)}
    e.apply()
    assert not e.plan().has_changes


def test_destroy_empties_a_versioned_bucket_and_pruning_needs_the_flag(write_spec, engine, aws):
    path = write_spec(SPEC)
    e = engine(path)
    e.apply()
    s3 = aws("s3")
    s3.delete_bucket_policy(Bucket=BUCKET)
    for index in range(3):
        s3.put_object(Bucket=BUCKET, Key="incoming/a.csv", Body=b"%d" % index)
    s3.delete_object(Bucket=BUCKET, Key="incoming/a.csv")

    without_bucket = SPEC[:SPEC.index("s3_buckets:")] + SPEC[SPEC.index("iam_roles:"):]
    pruned = write_spec(without_bucket.replace("      - {s3_bucket: data, access: read, prefix: incoming/}\n", ""),
                        "pruned.yaml")
    blocked = [c for c in engine(pruned).plan().pending if c.action == "delete"]
    assert [c.address for c in blocked] == ["s3_buckets.data"] and "allow-data-loss" in blocked[0].blocked

    plan, outcomes = e.destroy()
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert aws("iam").list_roles()["Roles"] == []
    again, _ = e.destroy()
    assert again.pending == []


@pytest.mark.parametrize("policy, message", [
    ('{Statement: [{Effect: Allow, Action: "*", Resource: "${sqs_queues.q.arn}"}]}', "allows '*'"),
    ('{Statement: [{Effect: Allow, Action: "sqs:*", Resource: "${sqs_queues.q.arn}"}]}', "allows 'sqs:*'"),
    ('{Statement: [{Effect: Allow, Action: sqs:SendMessage, Resource: "*"}]}', "to Resource '*'"),
    ('{Statement: [{Effect: Allow, NotAction: sqs:DeleteQueue, Resource: "${sqs_queues.q.arn}"}]}', "NotAction"),
    ('{Statement: [{Effect: Allow, Action: sqs:SendMesage, Resource: "${sqs_queues.q.arn}"}]}', "UNKNOWN_ACTION"),
    ('{Statement: [{Effect: Allow, Action: s3:GetObject, Resource: "${s3_buckets.b.arn}"}]}', "RESOURCE_MISMATCH"),
])
def test_policy_lint_rejects_with_file_and_line(write_spec, policy, message):
    path = write_spec(f"""
        version: 1
        project: shop
        environment: dev
        sqs_queues:
          q: {{}}
        s3_buckets:
          b: {{}}
        iam_roles:
          r:
            services: [lambda.amazonaws.com]
            policies:
              custom: {policy}
    """)
    with pytest.raises(SpecError) as error:
        load_spec(str(path), default_registry())
    text = str(error.value)
    assert f"{path}:12: iam_roles.r.policies.custom.Statement[0]" in text and message in text


def test_allow_wildcard_with_a_reason_and_star_only_actions_pass(write_spec):
    path = write_spec("""
        version: 1
        project: shop
        environment: dev
        iam_roles:
          r:
            services: [lambda.amazonaws.com]
            policies:
              tracing: {Statement: [{Effect: Allow, Action: [xray:PutTraceSegments], Resource: "*"}]}
              admin: {Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*", allow_wildcard: "break-glass role"}]}
    """)
    load_spec(str(path), default_registry())


def test_generated_grant_policies_are_clean_under_every_access_level(write_spec, tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("def handler(event, context):\n    return event\n")
    path = write_spec("""
        version: 1
        project: shop
        environment: dev
        kms_keys: {k: {}}
        sqs_queues: {q: {kms_key: k}}
        sns_topics: {t: {kms_key: k}}
        log_groups: {g: {}}
        dynamodb_tables:
          d: {partition_key: {name: id, type: S}, stream: new_image, kms_key: k,
              global_indexes: {idx: {partition_key: {name: x, type: S}}}}
        s3_buckets: {b: {encryption: {kms_key: k}}}
        secrets: {s: {kms_key: k}}
        lambda_functions: {f: {code: code, handler: app.handler}}
        state_machines:
          m: {definition: {StartAt: Done, States: {Done: {Type: Succeed}}}}
        iam_roles:
          r:
            services: [lambda.amazonaws.com]
            grants:
              - {secret: s, access: read}
              - {state_machine: m, access: start}
              - {function: f, access: invoke}
              - {dynamodb_table: d, access: read}
              - {dynamodb_table: d, access: write}
              - {dynamodb_table: d, access: read_write}
              - {dynamodb_table: d, access: stream}
              - {s3_bucket: b, access: read, prefix: in/}
              - {s3_bucket: b, access: write, prefix: out/}
              - {s3_bucket: b, access: read_write, prefix: data/}
              - {s3_bucket: b, access: delete}
              - {sqs_queue: q, access: send}
              - {sqs_queue: q, access: consume}
              - {sqs_queue: q, access: send_consume}
              - {sns_topic: t, access: publish}
              - {kms_key: k, access: encrypt}
              - {kms_key: k, access: decrypt}
              - {kms_key: k, access: encrypt_decrypt}
              - {log_group: g, access: write}
    """)
    spec = load_spec(str(path), default_registry())
    assert not spec.warnings
    grants = spec.nodes["iam_roles.r"].props["grants"]
    covered = {(kind, grant["access"]) for grant in grants for kind in [grant_target(grant)[0]]}
    assert covered == {(kind, access) for kind, levels in ACCESS_LEVELS.items() for access in levels}
    document = {"Statement": compile_grants(grants, spec)}
    assert parliament_findings(document, spec, spec.registry) == []


def test_every_compared_field_can_be_named_in_ignore_changes(write_spec, engine, aws):
    """ignore_changes is validated against compared_fields: it must cover what diff compares."""
    from provisioner.spec.model import compared_fields
    from tests.e2e.conftest import ROOT
    registry = default_registry()
    for spec_path in (write_spec(SPEC), ROOT / "specs" / "example.yaml"):
        plan = engine(spec_path).plan()
        for change in plan.changes:
            fields = {k for k in change.desired if not k.startswith("_")}
            assert fields <= compared_fields(registry[change.kind]), change.address
