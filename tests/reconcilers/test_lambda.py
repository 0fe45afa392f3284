"""Lambda functions on moto (in-process): configuration, triggers, permissions, alias, code drift."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from provisioner.errors import SpecError
from provisioner.policy.lint import STAR_ONLY_ACTIONS
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import pending_diffs, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
defaults:
  log_groups: {retention_days: 7}
kms_keys:
  data: {}
sqs_queues:
  jobs: {visibility_timeout: 180}
  failures: {}
sns_topics:
  alerts:
    subscriptions:
      - {function: worker}
dynamodb_tables:
  items:
    partition_key: {name: id, type: S}
    global_indexes: {by-day: {partition_key: {name: day, type: S}}}
s3_buckets:
  data:
    encryption: {kms_key: data}
    notifications:
      - {function: worker, events: ["s3:ObjectCreated:*"], prefix: incoming/, suffix: .csv}
lambda_functions:
  worker:
    code: code
    handler: app.handler
    memory: 512
    timeout: 30
    reserved_concurrency: 5
    environment: {TABLE: "${dynamodb_tables.items.name}", DEBUG: true}
    async: {max_retries: 1, max_event_age_seconds: 3600, on_failure: {sqs_queue: failures}}
    alias: {name: live}
    logs: {retention_days: 14, kms_key: data}
    grants:
      - {dynamodb_table: items, access: read_write}
      - {s3_bucket: data, access: read, prefix: incoming/}
    triggers:
      - {sqs_queue: jobs, batch_size: 5, maximum_concurrency: 2}
"""
FUNCTION = "shop-dev-worker"
WORKER = "lambda_functions.worker"
HANDLER = "import json\n\n\ndef handler(event, context):\n    return {'ok': True}\n"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": HANDLER})
    return write_spec(SPEC)


def test_quartet_and_deployed_settings(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    lam = aws("lambda")
    config = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    assert (config["MemorySize"], config["Timeout"], config["Runtime"]) == (512, 30, "python3.12")
    assert config["TracingConfig"]["Mode"] == "Active"
    assert config["Environment"]["Variables"] == {"TABLE": "shop-dev-items", "DEBUG": "true"}
    assert config["Role"] == f"arn:aws:iam::123456789012:role/{FUNCTION}"
    assert lam.get_function_concurrency(FunctionName=FUNCTION)["ReservedConcurrentExecutions"] == 5
    invoke = lam.get_function_event_invoke_config(FunctionName=FUNCTION)
    assert invoke["MaximumRetryAttempts"] == 1 and invoke["MaximumEventAgeInSeconds"] == 3600
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"].endswith(":shop-dev-failures")

    mapping, = lam.list_event_source_mappings(FunctionName=FUNCTION)["EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith(":shop-dev-jobs")
    assert mapping["BatchSize"] == 5 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    statements = {s["Sid"]: s for s in json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]}
    s3 = statements["provisioner-s3-buckets-data"]
    assert s3["Principal"] == {"Service": "s3.amazonaws.com"}
    assert s3["Condition"]["ArnLike"]["AWS:SourceArn"] == "arn:aws:s3:::shop-dev-data-123456789012"
    assert s3["Condition"]["StringEquals"]["AWS:SourceAccount"] == "123456789012"
    sns = statements["provisioner-sns-topics-alerts"]
    assert sns["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(":shop-dev-alerts")

    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1"
    group = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"][0]
    assert group["retentionInDays"] == 14 and "kmsKeyId" in group

    notification = aws("s3").get_bucket_notification_configuration(Bucket="shop-dev-data-123456789012")
    assert notification["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"].endswith(f":{FUNCTION}")
    subscriptions = aws("sns").list_subscriptions()["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"].rsplit(":", 1)[-1]) for s in subscriptions] == [("lambda", FUNCTION)]


def test_generated_role_is_least_privilege(spec_path, engine, aws):
    engine(spec_path).apply()
    iam = aws("iam")
    statements = []
    for name in iam.list_role_policies(RoleName=FUNCTION)["PolicyNames"]:
        statements += iam.get_role_policy(RoleName=FUNCTION, PolicyName=name)["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "*" in resources:   # only actions that take nothing but "*" (X-Ray)
            assert all(a.lower() in STAR_ONLY_ACTIONS for a in actions), statement
        assert not any(a.endswith("*") and not a.startswith("kms:GenerateDataKey") for a in actions), statement
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-dev-items"
    assert by_sid["TableItemsReadWrite"]["Resource"] == [table, table + "/index/*"]
    assert by_sid["QueueJobsConsume"]["Resource"] == ["arn:aws:sqs:us-east-1:123456789012:shop-dev-jobs"]
    assert by_sid["QueueFailuresSend"]["Action"] == ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
    assert by_sid["LogsWorkerLogs"]["Resource"] == [
        f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/{FUNCTION}:log-stream:*"]
    assert by_sid["Tracing"]["Action"] == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    trust = iam.get_role(RoleName=FUNCTION)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["Service"] in ("lambda.amazonaws.com", ["lambda.amazonaws.com"])


@pytest.mark.parametrize("out_of_band, path, before, after", [
    (lambda lam: lam.update_function_configuration(FunctionName=FUNCTION, MemorySize=128), "memory", 128, 512),
    (lambda lam: lam.update_function_configuration(FunctionName=FUNCTION, Timeout=3), "timeout", 3, 30),
    (lambda lam: lam.update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"TABLE": "other", "DEBUG": "true"}}),
     "environment.TABLE", "other", "shop-dev-items"),
    (lambda lam: lam.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=50),
     "reserved_concurrency", 50, 5),
    # moto ignores a Put/UpdateFunctionEventInvokeConfig over an existing one: remove it instead
    (lambda lam: lam.delete_function_event_invoke_config(FunctionName=FUNCTION), "async", None, None),
    (lambda lam: lam.remove_permission(FunctionName=FUNCTION, StatementId="provisioner-s3-buckets-data"),
     "permissions.provisioner-s3-buckets-data", None, None),
])
def test_configuration_drift_is_detected_and_repaired(spec_path, engine, aws, out_of_band, path, before, after):
    e = engine(spec_path)
    e.apply()
    out_of_band(aws("lambda"))
    diffs = pending_diffs(e.plan(), WORKER)
    assert path in diffs, sorted(diffs)
    if before is not None:
        assert diffs[path] == (before, after)
    e.apply()
    assert not e.plan().has_changes
    if path == "memory":   # a configuration change publishes a version and moves the alias to it
        assert aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "2"


def test_trigger_drift_is_detected_and_repaired(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    lam = aws("lambda")
    mapping, = lam.list_event_source_mappings(FunctionName=FUNCTION)["EventSourceMappings"]
    lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=9)
    diffs = pending_diffs(e.plan(), WORKER)
    assert diffs["triggers.arn:aws:sqs:us-east-1:123456789012:shop-dev-jobs.batch_size"] == (9, 5)
    e.apply()
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["BatchSize"] == 5
    assert not e.plan().has_changes


TWO_CONSUMERS = """
version: 1
project: shop
environment: dev
sqs_queues:
  orders: {}
  refunds: {}
lambda_functions:
  orders:
    code: code
    handler: app.handler
    alias: {name: live}
    triggers:
      - {sqs_queue: orders, batch_size: 5}
  refunds:
    code: code
    handler: app.handler
    triggers:
      - {sqs_queue: refunds, batch_size: 7}
"""


def test_mappings_of_every_function_come_from_one_listing(write_spec, engine, aws, tmp_path):
    write_code(tmp_path, {"app.py": HANDLER})
    e = engine(write_spec(TWO_CONSUMERS))
    e.apply()
    lam = aws("lambda")
    mapping, = lam.list_event_source_mappings(FunctionName="shop-dev-orders")["EventSourceMappings"]
    lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=9)
    # a mapping on the alias is not one of the function's own triggers (this tool creates none)
    lam.create_event_source_mapping(FunctionName="shop-dev-orders:live", EventSourceArn=mapping["EventSourceArn"])
    plan = e.plan()
    assert e.calls.calls[("lambda", "ListEventSourceMappings")] == 1, e.calls.summary()
    diffs = pending_diffs(plan, "lambda_functions.orders")
    assert diffs == {"triggers.arn:aws:sqs:us-east-1:123456789012:shop-dev-orders.batch_size": (9, 5)}
    assert "lambda_functions.refunds" not in {c.address for c in plan.pending}   # sees only its own mapping


def test_alias_moved_out_of_band_is_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    lam = aws("lambda")
    lam.update_function_configuration(FunctionName=FUNCTION, Description="hot fix")
    lam.publish_version(FunctionName=FUNCTION)
    lam.update_function_configuration(FunctionName=FUNCTION, Description="")
    diffs = pending_diffs(e.plan(), WORKER)
    assert diffs["alias.version"] == ("version 1 (behind $LATEST)", "$LATEST published")
    e.apply()
    assert not e.plan().has_changes


def test_changed_source_is_code_drift_and_a_new_version(spec_path, engine, aws, tmp_path):
    e = engine(spec_path)
    e.apply()
    lam = aws("lambda")
    before = lam.get_function(FunctionName=FUNCTION)["Configuration"]["CodeSha256"]
    (tmp_path / "code" / "app.py").write_text(HANDLER + "\nVERSION = 2\n")
    diffs = pending_diffs(e.plan(), WORKER)
    assert diffs["code_sha256"][0] == before and diffs["code_sha256"][1] != before
    e.apply()
    config = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    assert config["CodeSha256"] == diffs["code_sha256"][1]
    deployed = lam.get_function(FunctionName=FUNCTION)["Code"]
    assert deployed   # the package itself went up, not only a configuration change
    assert lam.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "2"
    assert not e.plan().has_changes


def test_touching_files_is_not_code_drift(spec_path, engine, aws, tmp_path):
    import os
    e = engine(spec_path)
    e.apply()
    os.utime(tmp_path / "code" / "app.py", (1, 1))
    (tmp_path / "code" / "__pycache__").mkdir()
    (tmp_path / "code" / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"\0" * 16)
    assert not e.plan().has_changes


def test_destroy_removes_function_mappings_role_and_log_group(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    plan, outcomes = e.destroy()
    assert all(o.status == "done" for o in outcomes)
    assert {"lambda_functions.worker", "iam_roles.worker-role", "log_groups.worker-logs"} <= {
        c.address for c in plan.changes}
    assert aws("lambda").list_functions()["Functions"] == []
    assert aws("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    assert [r["RoleName"] for r in aws("iam").list_roles()["Roles"]] == []


def test_function_removed_from_spec_takes_its_role_and_log_group(spec_path, engine, aws, write_spec):
    e = engine(spec_path)
    e.apply()
    text = SPEC.split("lambda_functions:")[0].replace("      - {function: worker}\n", "")
    text = text.replace("    subscriptions:\n", "    subscriptions: []\n").replace(
        "    notifications:\n      - {function: worker, events: [\"s3:ObjectCreated:*\"], prefix: incoming/, "
        "suffix: .csv}\n", "")
    pruned = engine(write_spec(text, "pruned.yaml"))
    deletes = {c.address for c in pruned.plan().changes if c.action == "delete"}
    assert deletes == {"lambda_functions.worker", "iam_roles.worker-role", "log_groups.worker-logs"}


def _load(write_spec, text):
    return load_spec(str(write_spec(text)), default_registry())


@pytest.mark.parametrize("change, message, at", [
    (("handler: app.handler", "handler: app.main"), "app.py defines no function 'main'", "handler:"),
    (("handler: app.handler", "handler: missing.handler"), "module file missing.py not found", "handler:"),
    (("code: code", "code: nowhere"), "code folder 'nowhere' not found", "code:"),
    (("jobs: {visibility_timeout: 180}", "jobs: {visibility_timeout: 10}"),
     "visibility_timeout 10s, less than the function's timeout 30s", "- {sqs_queue: jobs"),
    (("batch_size: 5,", "batch_size: 50,"), "needs batching_window_seconds", "- {sqs_queue: jobs"),
    (("alias: {name: live}", "alias: {name: live, provisioned_concurrency: 9}"),
     "provisioned concurrency 9 exceeds reserved_concurrency 5", "alias:"),
])
def test_validate_rejects_function_mistakes_with_the_line(spec_path, write_spec, change, message, at):
    text = SPEC.replace(*change).lstrip()
    with pytest.raises(SpecError) as raised:
        _load(write_spec, text)
    rendered = str(raised.value)
    assert message in rendered, rendered
    line = next(i for i, row in enumerate(text.splitlines(), 1) if at in row)
    assert f"spec.yaml:{line}:" in rendered, rendered


def test_package_is_deterministic_zip_of_the_folder(spec_path, write_spec):
    spec = _load(write_spec, SPEC)
    reconciler = default_registry()["lambda_functions"]
    first = reconciler.package(spec.nodes["lambda_functions.worker"], spec)
    second = reconciler.package(spec.nodes["lambda_functions.worker"], spec)
    assert first.zip_bytes == second.zip_bytes
    assert zipfile.ZipFile(io.BytesIO(first.zip_bytes)).namelist() == ["app.py"]
