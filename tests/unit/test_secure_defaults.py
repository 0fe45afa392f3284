"""Secure defaults: a spec that says nothing gets them, an opt-out is a warning naming the file, line and
control, and an encryption AWS cannot honour is an error before any AWS call."""
from __future__ import annotations

import textwrap

import pytest
import yaml

from provisioner.errors import SpecError
from provisioner.policy.grants import ACCESS_LEVELS, TARGETS, compile_grants
from provisioner.services import default_registry
from provisioner.spec.model import load_spec

HEADER = "version: 1\nproject: shop\nenvironment: dev\n"
EVERY_KIND = """
kms_keys:
  data: {}
dynamodb_tables:
  orders: {partition_key: {name: id, type: S}}
s3_buckets:
  files: {}
sqs_queues:
  jobs: {}
sns_topics:
  events: {}
lambda_functions:
  worker: {code: lambda_code/serverless_app, handler: app.lambda_handler, runtime: python3.12}
api_gateways:
  api: {routes: {"GET /items": {function: worker}}}
state_machines:
  flow: {definition: {StartAt: Done, States: {Done: {Type: Succeed}}}}
"""


def spec_of(body: str):
    return load_spec("spec.yaml", default_registry(), text=HEADER + textwrap.dedent(body).lstrip("\n"))


def errors_of(body: str) -> list:
    with pytest.raises(SpecError) as caught:
        spec_of(body)
    return [(d.path, d.message) for d in caught.value.diagnostics if d.severity == "error"]


def test_a_spec_that_says_nothing_gets_the_secure_settings_and_no_warning():
    spec = spec_of(EVERY_KIND)
    assert spec.warnings == []
    props = {address: node.props for address, node in spec.nodes.items()}
    assert props["dynamodb_tables.orders"]["encryption"] == "kms"
    assert props["dynamodb_tables.orders"]["point_in_time_recovery"] is True
    bucket = props["s3_buckets.files"]
    assert (bucket["encryption"]["sse"], bucket["versioning"], bucket["deny_insecure_transport"]) == ("kms", True, True)
    assert all(bucket["public_access_block"].values())
    assert props["sns_topics.events"]["encryption"] == "kms"
    assert props["lambda_functions.worker"]["tracing"] == "Active"
    stage = props["api_gateways.api"]["stage"]
    assert stage["tracing"] is True and stage["access_logs"]["enabled"] is True
    assert "log_groups.api-access-logs" in spec.nodes
    assert props["state_machines.flow"]["logging"]["level"] == "ERROR"


OPT_OUTS = """
kms_keys:
  data: {rotation: false}
dynamodb_tables:
  orders: {partition_key: {name: id, type: S}, encryption: aws_owned, point_in_time_recovery: false}
s3_buckets:
  files: {versioning: false, deny_insecure_transport: false, encryption: {sse: s3}}
sns_topics:
  events: {encryption: none}
lambda_functions:
  worker: {code: lambda_code/serverless_app, handler: app.lambda_handler, runtime: python3.12, tracing: PassThrough}
api_gateways:
  api:
    routes: {"GET /items": {function: worker}}
    stage: {tracing: false, access_logs: {enabled: false}}
state_machines:
  flow: {definition: {StartAt: Done, States: {Done: {Type: Succeed}}}, logging: {level: "OFF"}}
"""


def test_every_opt_out_is_a_warning_with_its_line_and_control():
    spec = spec_of(OPT_OUTS)
    found = {(w.path, w.line): w.message for w in spec.warnings}
    expected = {
        ("kms_keys.data.rotation", 5): "FSBP KMS.4",
        ("dynamodb_tables.orders.encryption", 7): "dynamodb-table-encrypted-kms",
        ("dynamodb_tables.orders.point_in_time_recovery", 7): "FSBP DynamoDB.2",
        ("s3_buckets.files.versioning", 9): "FSBP S3.14",
        ("s3_buckets.files.deny_insecure_transport", 9): "FSBP S3.5",
        ("s3_buckets.files.encryption.sse", 9): "FSBP S3.17",
        ("sns_topics.events.encryption", 11): "FSBP SNS.1",
        ("lambda_functions.worker.tracing", 13): "CKV_AWS_50",
        ("api_gateways.api.stage.tracing", 17): "FSBP APIGateway.3",
        ("api_gateways.api.stage.access_logs.enabled", 17): "CKV_AWS_76",
        ("state_machines.flow.logging.level", 19): "FSBP StepFunctions.1",
    }
    assert set(found) == set(expected)
    for where, control in expected.items():
        assert "turns off a secure default" in found[where] and control in found[where], found[where]
    assert "log_groups.api-access-logs" not in spec.nodes


def test_a_topic_aws_services_publish_to_needs_a_key_of_the_spec():
    body = """
        sns_topics:
          alerts: {}
        sqs_queues:
          jobs: {}
        alarms:
          backlog: {dlq_depth: {queue: jobs}, actions: [alerts]}
        """
    assert errors_of(body) == [("sns_topics.alerts", (
        "cloudwatch.amazonaws.com publish here, and cannot use the AWS managed key alias/aws/sns (its key policy "
        "cannot grant a service): name a kms_key of the spec, whose policy gets the grant"))]
    spec = spec_of(body.replace("alerts: {}", "alerts: {kms_key: data}") + "\n        kms_keys: {data: {}}\n")
    assert spec.warnings == []


def test_log_buckets_get_the_encryption_their_delivery_service_supports():
    [(path, message)] = errors_of("""
        s3_buckets:
          logs: {log_delivery: [{service: delivery.logs.amazonaws.com}]}
        """)
    assert path == "s3_buckets.logs.encryption" and "cannot use the AWS managed key aws/s3" in message
    [(path, message)] = errors_of("""
        kms_keys: {data: {}}
        s3_buckets:
          logs: {log_delivery: [{service: logging.s3.amazonaws.com}], encryption: {kms_key: data}}
        """)
    assert message == ("logging.s3.amazonaws.com delivers only to buckets encrypted with SSE-S3: "
                       "set encryption: {sse: s3}")
    spec = spec_of("""
        s3_buckets:
          logs: {log_delivery: [{service: logging.s3.amazonaws.com}], encryption: {sse: s3}}
        """)
    assert [w.path for w in spec.warnings] == ["s3_buckets.logs.encryption.sse"]


@pytest.mark.parametrize("body, path", [
    ("kms_keys: {k: {}}\ndynamodb_tables:\n  t: {partition_key: {name: id, type: S}, encryption: aws_owned, "
     "kms_key: k}", "dynamodb_tables.t.kms_key"),
    ("kms_keys: {k: {}}\nsns_topics:\n  t: {encryption: none, kms_key: k}", "sns_topics.t.kms_key"),
    ("kms_keys: {k: {}}\ns3_buckets:\n  b: {encryption: {sse: s3, kms_key: k}}", "s3_buckets.b.encryption.kms_key"),
])
def test_a_key_with_its_encryption_turned_off_is_an_error(body, path):
    assert [p for p, _ in errors_of(body)] == [path]


def test_no_compiled_grant_has_a_pattern_in_an_action():
    """Every access level of every kind, each target encrypted with a key of the spec."""
    targets = {
        "kms_keys": {"data": {}},
        "dynamodb_tables": {"t": {"partition_key": {"name": "id", "type": "S"}, "kms_key": "data",
                                  "stream": "new_image"}},
        "s3_buckets": {"t": {"encryption": {"kms_key": "data"}}},
        "sqs_queues": {"t": {"kms_key": "data"}},
        "sns_topics": {"t": {"kms_key": "data"}},
        "secrets": {"t": {"kms_key": "data"}},
        "log_groups": {"t": {"kms_key": "data"}},
        "lambda_functions": {"t": {"code": "lambda_code/serverless_app", "handler": "app.lambda_handler",
                                   "runtime": "python3.12"}},
        "state_machines": {"m": {"definition": {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}}},
    }
    grants = [{field: {"kms_keys": "data", "state_machines": "m"}.get(kind, "t"), "access": access}
              for field, kind in TARGETS.items() for access in ACCESS_LEVELS.get(kind, {})]
    roles = {"iam_roles": {"worker": {"services": ["lambda.amazonaws.com"], "grants": grants}}}
    spec = spec_of(yaml.safe_dump({**targets, **roles}))
    statements = compile_grants(spec.nodes["iam_roles.worker"].props["grants"], spec)
    actions = {a for s in statements for a in s["Action"]}
    assert len(grants) > 15 and actions and not [a for a in actions if "*" in a]
    assert {a for a in actions if a.startswith("kms:")} == {
        "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}


def test_a_hand_written_action_pattern_is_rejected():
    [(path, message)] = errors_of("""
        kms_keys: {data: {}}
        iam_roles:
          worker:
            services: [lambda.amazonaws.com]
            policies:
              keys:
                Statement:
                  - {Effect: Allow, Action: ["kms:GenerateDataKey*"], Resource: "${kms_keys.data.arn}"}
        """)
    assert path == "iam_roles.worker.policies.keys.Statement[0].Action"
    assert "allows 'kms:GenerateDataKey*', a pattern of actions" in message
