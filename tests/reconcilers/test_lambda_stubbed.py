"""The Lambda calls moto cannot answer (provisioned concurrency: no route; DeadLetterConfig: dropped;
TracingConfig updates: ignored), checked call by call with botocore's Stubber on real clients."""
from __future__ import annotations

import datetime
import json

import pytest
from botocore.stub import ANY

from provisioner.engine.diff import diff
from provisioner.services.base import NOT_RETURNED
from provisioner.services.lambda_versions import publish
from tests.reconcilers.helpers import performed, stubbed_node, write_code

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  dlq: {}
lambda_functions:
  worker:
    code: code
    handler: app.handler
    memory: 1024
    dead_letter_queue: {sqs_queue: dlq}
    alias: {name: live, provisioned_concurrency: 5}
"""
NAME = "shop-dev-worker"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"
DLQ = "arn:aws:sqs:us-east-1:123456789012:shop-dev-dlq"
ROLE = f"arn:aws:iam::123456789012:role/{NAME}"


@pytest.fixture
def setup(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return 1\n"})
    with stubbed_node(write_spec(SPEC), "lambda_functions.worker", "lambda") as stubbed:
        yield stubbed


def _configuration(desired, **changes):
    config = {
        "FunctionName": NAME, "FunctionArn": ARN, "Runtime": "python3.12", "Handler": "app.handler",
        "Role": ROLE, "MemorySize": 1024, "Timeout": 3, "EphemeralStorage": {"Size": 512}, "Description": "",
        "TracingConfig": {"Mode": "Active"}, "Environment": {"Variables": {}}, "Architectures": ["x86_64"],
        "CodeSha256": desired["code_sha256"], "Version": "$LATEST", "State": "Active",
        "LastUpdateStatus": "Successful", "DeadLetterConfig": {"TargetArn": DLQ}}
    config.update(changes)
    return {k: v for k, v in config.items() if v is not None}


def _stub_read(stub, desired, provisioned, **changes):
    config = _configuration(desired, **changes)
    stub.add_response("get_function", {"Configuration": config, "Tags": desired["tags"]}, {"FunctionName": NAME})
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []}, {"MaxItems": 100})
    stub.add_client_error("get_function_event_invoke_config", "ResourceNotFoundException", http_status_code=404)
    stub.add_client_error("get_policy", "ResourceNotFoundException", http_status_code=404)
    stub.add_response("get_alias", {"Name": "live", "FunctionVersion": "3", "AliasArn": f"{ARN}:live"},
                      {"FunctionName": NAME, "Name": "live"})
    published = {**config, "Version": "3", "FunctionArn": f"{ARN}:3"}
    stub.add_response("list_versions_by_function", {"Versions": [config, published]}, {"FunctionName": NAME})
    stub.add_response("get_provisioned_concurrency_config", {
        "RequestedProvisionedConcurrentExecutions": provisioned, "Status": "READY",
        "LastModified": datetime.datetime(2026, 1, 1).isoformat()}, {"FunctionName": NAME, "Qualifier": "live"})


def test_read_reports_provisioned_concurrency_and_dead_letter_queue(setup):
    ctx, node, reconciler, desired, stub = setup
    _stub_read(stub, desired, provisioned=5)
    found = reconciler.read(node, ctx)
    stub.assert_no_pending_responses()
    assert found.props["alias"] == {"name": "live", "version": "$LATEST published", "provisioned_concurrency": 5}
    assert found.props["dead_letter_queue"] == DLQ
    assert diff(desired, found.props, reconciler.write_only) == []


def test_provisioned_concurrency_drift_is_repaired_on_the_alias_never_on_latest(setup):
    ctx, node, reconciler, desired, stub = setup
    _stub_read(stub, desired, provisioned=2)
    found = reconciler.read(node, ctx)
    diffs = diff(desired, found.props)
    assert [(d.path, d.before, d.after) for d in diffs] == [("alias.provisioned_concurrency", 2, 5)]

    stub.add_response("publish_version", {"Version": "3"}, {"FunctionName": NAME})
    stub.add_response("update_alias", {"AliasArn": f"{ARN}:live"},
                      {"FunctionName": NAME, "Name": "live", "FunctionVersion": "3"})
    stub.add_response("put_provisioned_concurrency_config", {"RequestedProvisionedConcurrentExecutions": 5},
                      {"FunctionName": NAME, "Qualifier": "live", "ProvisionedConcurrentExecutions": 5})
    outputs = performed(reconciler.update(node, desired, found, diffs, ctx), ctx, missing=reconciler.missing)
    stub.assert_no_pending_responses()
    assert outputs == {"version": "3", "alias_arn": f"{ARN}:live"}


def test_dead_letter_queue_removed_out_of_band_is_drift_and_is_put_back(setup):
    ctx, node, reconciler, desired, stub = setup
    _stub_read(stub, desired, provisioned=5, DeadLetterConfig=None, TracingConfig={"Mode": "PassThrough"})
    found = reconciler.read(node, ctx)
    diffs = diff(desired, found.props)
    assert {(d.path, d.before, d.after) for d in diffs} == {
        ("dead_letter_queue", None, DLQ), ("tracing", "PassThrough", "Active")}

    stub.add_response("update_function_configuration", {}, {
        "FunctionName": NAME, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
        "MemorySize": 1024, "Timeout": 3, "EphemeralStorage": {"Size": 512}, "Description": "",
        "TracingConfig": {"Mode": "Active"}, "Environment": {"Variables": {}}, "Layers": [],
        "DeadLetterConfig": {"TargetArn": DLQ}})
    stub.add_response("get_function", {"Configuration": _configuration(desired)}, {"FunctionName": NAME})
    # the configuration changed: a new version is published and the alias moved to it
    stub.add_response("publish_version", {"Version": "4"}, {"FunctionName": NAME})
    stub.add_response("update_alias", {"AliasArn": f"{ARN}:live"},
                      {"FunctionName": NAME, "Name": "live", "FunctionVersion": "4"})
    performed(reconciler.update(node, desired, found, diffs, ctx), ctx, missing=reconciler.missing)
    stub.assert_no_pending_responses()


def test_endpoint_without_provisioned_concurrency_is_a_warning_not_a_failure(setup):
    ctx, node, reconciler, desired, stub = setup
    stub.add_response("publish_version", {"Version": "1"}, {"FunctionName": NAME})
    stub.add_response("get_alias", {"Name": "live", "FunctionVersion": "1"}, {"FunctionName": NAME, "Name": "live"})
    stub.add_response("update_alias", {"AliasArn": f"{ARN}:live"}, {"FunctionName": NAME, "Name": "live",
                                                                     "FunctionVersion": "1"})
    stub.add_client_error("put_provisioned_concurrency_config", "404", "Not yet implemented", http_status_code=404,
                          expected_params={"FunctionName": NAME, "Qualifier": "live",
                                           "ProvisionedConcurrentExecutions": ANY})
    performed(publish(node, desired, None, ctx), ctx, missing=reconciler.missing)
    stub.assert_no_pending_responses()
    assert any("provisioned_concurrency: not emulated" in w for w in ctx.warnings), ctx.warnings


def test_an_unreturned_dead_letter_queue_on_an_emulator_is_not_compared(setup):
    ctx, node, reconciler, desired, stub = setup
    ctx.aws.endpoint_url = "http://127.0.0.1:5000"   # an emulator endpoint, as with --local
    _stub_read(stub, desired, provisioned=5, DeadLetterConfig=None)
    found = reconciler.read(node, ctx)
    assert found.props["dead_letter_queue"] is NOT_RETURNED
    assert diff(desired, found.props) == []
    assert any("dead_letter_queue: not returned by this endpoint" in w for w in found.warnings)
    json.dumps(found.warnings)
