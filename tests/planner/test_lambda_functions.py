"""Lambda functions: the calls of a create, of each update and of a delete, on fake state."""
import pytest
from botocore.stub import Stubber

from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  jobs: {visibility_timeout: 60}
lambda_functions:
  worker:
    code: code
    handler: app.handler
    reserved_concurrency: 5
    triggers: [{sqs_queue: jobs, batch_size: 5}]
"""
WITH_ALIAS = SPEC + "    alias: {name: live}\n"
NAME = "shop-dev-worker"
ADDRESS = "lambda_functions.worker"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:shop-dev-jobs"
OUTPUTS = {"arn": ARN, "name": NAME}
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": ADDRESS}
CONFIGURATION = {"Runtime": "python3.12", "Handler": "app.handler", "Role": f"arn:aws:iam::123456789012:role/{NAME}",
                 "MemorySize": 128, "Timeout": 3, "EphemeralStorage": {"Size": 512}, "Description": "",
                 "TracingConfig": {"Mode": "Active"}, "Environment": {"Variables": {}}, "Layers": []}
MAPPING = "6a1f0c2e-0000-4000-8000-000000000001"
TRIGGER = {"BatchSize": 5, "Enabled": True, "MaximumBatchingWindowInSeconds": 0,
           "FunctionResponseTypes": ["ReportBatchItemFailures"]}


@pytest.fixture
def state(fake_state, tmp_path):
    def build(spec=SPEC):
        (tmp_path / "code").mkdir(exist_ok=True)
        (tmp_path / "code" / "app.py").write_text("def handler(event, context):\n    return 1\n")
        return fake_state(spec)
    return build


def in_sync(state) -> dict:
    return {**state.desired(ADDRESS), "_mapping_ids": {QUEUE: MAPPING}}


def test_create_is_the_function_then_its_concurrency_and_trigger(state):
    state = state()
    zip_bytes = state.desired(ADDRESS)["_package"].zip_bytes
    assert shown(state.creates(ADDRESS)) == [
        ("lambda:CreateFunction", {"FunctionName": NAME, "Code": {"ZipFile": zip_bytes}, "Publish": False,
                                   "Architectures": ["x86_64"], "Tags": OWNERSHIP, **CONFIGURATION}),
        ("lambda:wait function_active_v2", {"FunctionName": NAME}),
        ("lambda:PutFunctionConcurrency", {"FunctionName": NAME, "ReservedConcurrentExecutions": 5}),
        ("lambda:CreateEventSourceMapping", {"FunctionName": NAME, "EventSourceArn": QUEUE, **TRIGGER})]


def test_a_configuration_change_sends_the_whole_configuration_and_waits(state):
    state = state()
    actual = {**in_sync(state), "memory": 256}
    assert shown(state.updates(ADDRESS, actual, OUTPUTS)) == [
        ("lambda:UpdateFunctionConfiguration", {"FunctionName": NAME, **CONFIGURATION,
                                                "DeadLetterConfig": {"TargetArn": ""}}),
        ("lambda:wait function_updated_v2", {"FunctionName": NAME})]


def test_a_changed_function_with_an_alias_is_published_and_the_alias_moved(state):
    state = state(WITH_ALIAS)
    alias = {"name": "live", "version": "version 3 (behind $LATEST)", "provisioned_concurrency": None}
    actual = {**in_sync(state), "timeout": 10, "alias": alias}
    assert [operation for operation, _ in shown(state.updates(ADDRESS, actual, OUTPUTS))] == [
        "lambda:UpdateFunctionConfiguration", "lambda:wait function_updated_v2", "lambda:PublishVersion",
        "lambda:UpdateAlias"]


def test_trigger_drift_updates_that_mapping_only(state):
    state = state()
    actual = in_sync(state)
    actual["triggers"] = {QUEUE: {**actual["triggers"][QUEUE], "batch_size": 10}}
    assert shown(state.updates(ADDRESS, actual, OUTPUTS)) == [
        ("lambda:UpdateEventSourceMapping", {"UUID": MAPPING, "FunctionName": NAME, **TRIGGER})]


def test_tag_drift_is_an_untag_then_a_tag_call(state):
    state = state()
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates(ADDRESS, actual, OUTPUTS)) == [
        ("lambda:UntagResource", {"Resource": ARN, "TagKeys": ["stray"]}),
        ("lambda:TagResource", {"Resource": ARN, "Tags": {"Project": "shop"}})]


def test_in_sync_makes_no_call(state):
    state = state()
    assert state.updates(ADDRESS, in_sync(state), OUTPUTS) == []


def test_delete_removes_the_mappings_then_the_function_each_accepting_it_gone(state):
    state = state()
    stub = Stubber(state.ctx.client("lambda"))
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [
        {"UUID": MAPPING, "EventSourceArn": QUEUE, "FunctionArn": ARN}]}, {"FunctionName": NAME})
    owned = OwnedResource("lambda_functions", ADDRESS, NAME, ARN)
    with stub:
        operations = state.deletes("lambda_functions", owned)
    assert shown(operations) == [("lambda:DeleteEventSourceMapping", {"UUID": MAPPING}),
                                 ("lambda:DeleteFunction", {"FunctionName": NAME})]
    assert all(operation.missing_ok for operation in operations)


def test_delete_of_a_function_already_gone_makes_no_call(state):
    state = state()
    stub = Stubber(state.ctx.client("lambda"))
    stub.add_client_error("list_event_source_mappings", "ResourceNotFoundException", http_status_code=404)
    with stub:
        assert state.deletes("lambda_functions", OwnedResource("lambda_functions", ADDRESS, NAME, ARN)) == []
