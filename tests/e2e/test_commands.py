"""Command behaviour: pruning, ownership, environments, confirmation, output formats, --local."""
from __future__ import annotations

import re

import boto3

from tests.e2e.conftest import ROOT, owned_arns

SPEC = ROOT / "specs" / "example.yaml"


def _without_topic(tmp_path):
    text = SPEC.read_text()
    text = re.sub(r"\nsns_topics:\n(  .*\n|\s*\n)*?(?=dynamodb_tables:)", "\n", text)
    text = re.sub(r".*\{sns_topic: order-events.*\n", "", text)
    assert "sns_topics" not in text and "order-events" not in text
    text = text.replace("code: lambda_code/", f"code: {ROOT}/lambda_code/")   # the copy lives elsewhere
    path = tmp_path / "no-topic.yaml"
    path.write_text(text)
    return path


def test_resource_removed_from_spec_is_shown_as_delete_and_pruned(cli, boto, tmp_path):
    assert cli("apply", SPEC, "--yes").code == 0
    pruned = _without_topic(tmp_path)
    plan = cli("diff", pruned, "--output", "json")
    assert plan.code == 2, plan
    deletes = [c for c in plan.json()["changes"] if c["action"] == "delete"]
    assert [c["address"] for c in deletes] == ["sns_topics.order-events"]
    assert cli("apply", pruned, "--yes").code == 0
    topics = [t["TopicArn"] for t in boto("sns").list_topics()["Topics"]]
    assert not any(t.endswith(":shop-dev-order-events") for t in topics)
    assert cli("diff", pruned).code == 0


def test_foreign_resources_are_never_adopted_changed_or_deleted(cli, boto):
    sqs = boto("sqs")
    untagged = sqs.create_queue(QueueName="shop-dev-orders-dlq", Attributes={"MessageRetentionPeriod": "600"})
    other_env = sqs.create_queue(QueueName="shop-prod-orders", tags={
        "provisioner:project": "shop", "provisioner:environment": "prod",
        "provisioner:resource": "sqs_queues.orders"})
    other_project = sqs.create_queue(QueueName="shop-dev-orders-archive", tags={
        "provisioner:project": "shopping", "provisioner:environment": "dev",
        "provisioner:resource": "sqs_queues.orders-archive"})

    refused = cli("apply", SPEC, "--yes")
    assert refused.code == 1, refused
    assert "sqs_queues.orders-dlq" in refused.err and "refusing to adopt" in refused.err
    assert "Traceback" not in refused.err
    attrs = sqs.get_queue_attributes(QueueUrl=untagged["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "600"
    assert owned_arns(boto, "shop", "dev") == []   # nothing was created either

    sqs.delete_queue(QueueUrl=untagged["QueueUrl"])
    assert cli("apply", SPEC, "--yes").code == 0
    dry = cli("destroy", SPEC, "--dry-run")
    assert "shop-prod-orders" not in dry.out and "archive" not in dry.out
    assert cli("destroy", SPEC, "--yes").code == 0
    for queue in (other_env, other_project):
        sqs.get_queue_attributes(QueueUrl=queue["QueueUrl"], AttributeNames=["QueueArn"])  # still there


def test_environment_override_gives_an_isolated_copy(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    copy = cli("apply", SPEC, "--yes", "--environment", "pr-42")
    assert copy.code == 0, copy
    assert "12 created" in copy.out
    boto("sqs").get_queue_url(QueueName="shop-pr-42-orders")
    by_env_var = cli("diff", SPEC, env={"PROVISIONER_ENVIRONMENT": "pr-42"})
    assert by_env_var.code == 0, by_env_var
    destroyed = cli("destroy", "--project", "shop", "--environment", "pr-42", "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, "shop", "pr-42") == []
    assert len(owned_arns(boto, "shop", "dev")) == 12
    assert cli("diff", SPEC).code == 0


def test_destroy_dry_run_lists_exactly_what_destroy_deletes(cli):
    assert cli("apply", SPEC, "--yes").code == 0
    dry = cli("destroy", SPEC, "--dry-run", "--output", "json")
    assert dry.code == 0, dry
    listed = sorted(c["address"] for c in dry.json()["changes"])
    assert listed == sorted(["kms_keys.data", "sqs_queues.orders", "sqs_queues.orders-dlq",
                             "sns_topics.order-events", "dynamodb_tables.orders", "s3_buckets.receipts",
                             "log_groups.order-worker", "iam_roles.order-worker",
                             "lambda_functions.order-processor", "iam_roles.order-processor-role",
                             "log_groups.order-processor-logs", "dynamodb_tables.daily-totals"])
    done = cli("destroy", SPEC, "--yes")
    assert done.code == 0
    for address in listed:
        assert f"deleted {address}" in done.err


def test_apply_refuses_without_yes_when_not_a_terminal(cli, boto):
    result = cli("apply", SPEC, stdin="")
    assert result.code == 1, result
    assert "--yes" in result.err
    assert boto("sqs").list_queues().get("QueueUrls", []) == []


def test_diff_json_names_fields_with_both_values(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    boto("dynamodb").update_continuous_backups(
        TableName="shop-dev-orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    result = cli("diff", SPEC, "--output", "json")
    assert result.code == 2
    changes = result.json()["changes"]
    assert changes == [{
        "action": "update", "address": "dynamodb_tables.orders", "kind": "dynamodb_tables",
        "physical_name": "shop-dev-orders", "reason": None, "blocked": None, "ignored": [],
        "fields": [{"path": "point_in_time_recovery", "before": False, "after": True}]}]


def test_invalid_spec_makes_no_call_and_names_the_line(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nproject: shop\nenvironment: dev\nsqs_queues:\n  q:\n    retention_seconds: 5\n")
    result = cli("apply", bad, "--yes", endpoint_flag=False,
                 env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.code == 1
    assert f"{bad}:6: sqs_queues.q.retention_seconds: 5 is less than the minimum of 60" in result.err
    assert "Traceback" not in result.err


def test_aws_error_is_one_line_naming_resource_and_call(cli, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nproject: shop\nenvironment: dev\ndynamodb_tables:\n  t:\n"
                    "    partition_key: {name: id, type: S}\n    deletion_protection: true\n")
    assert cli("apply", spec, "--yes").code == 0
    result = cli("destroy", spec, "--yes")
    assert result.code == 1
    assert "dynamodb_tables.t" in result.err and "deletion_protection" in result.err
    assert "Traceback" not in result.err


def test_local_starts_the_embedded_emulator_and_stops_it(cli, tmp_path):
    env = {"PROVISIONER_STATE_DIR": str(tmp_path / "local-state")}
    assert cli("local", "status", env=env, endpoint_flag=False).code == 1
    applied = cli("apply", SPEC, "--local", "--yes", env=env, endpoint_flag=False)
    assert applied.code == 0, applied
    assert applied.err.count("started the embedded AWS emulator for ") == 1, applied   # the lock's client too
    status = cli("local", "status", env=env, endpoint_flag=False)
    assert status.code == 0 and "running: http://127.0.0.1:" in status.out
    # README: boto3 reaches it with any dummy credentials, the spec's region and the endpoint status prints
    sqs = boto3.client("sqs", endpoint_url=re.search(r"running: (\S+)", status.out).group(1),
                       region_name="us-east-1", aws_access_key_id="any", aws_secret_access_key="dummy")
    assert any(url.endswith("/shop-dev-orders") for url in sqs.list_queues()["QueueUrls"])
    assert cli("diff", SPEC, "--local", env=env, endpoint_flag=False).code == 0
    assert cli("local", "stop", env=env, endpoint_flag=False).out.strip() == "stopped"
    assert cli("local", "status", env=env, endpoint_flag=False).code == 1
