"""State machines: the calls of a create, of each update and of a delete, on fake state."""
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
state_machines:
  pipeline:
    definition:
      StartAt: Done
      States:
        Done: {Type: Succeed}
"""
ADDRESS = "state_machines.pipeline"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:shop-dev-pipeline"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": ADDRESS}
CONFIGURATION = {
    "definition": '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
    "roleArn": "arn:aws:iam::123456789012:role/shop-dev-pipeline",
    "loggingConfiguration": {"level": "ERROR", "includeExecutionData": False, "destinations": [
        {"cloudWatchLogsLogGroup": {"logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:"
                                                   "/aws/vendedlogs/states/shop-dev-pipeline:*"}}]},
    "tracingConfiguration": {"enabled": False},
}


def test_create_is_one_call_with_the_configuration_and_the_tags(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates(ADDRESS)) == [("stepfunctions:CreateStateMachine", {
        "name": "shop-dev-pipeline", "type": "STANDARD",
        "tags": [{"key": key, "value": value} for key, value in sorted(OWNERSHIP.items())], **CONFIGURATION})]


def in_sync(state) -> dict:
    return dict(state.desired(ADDRESS))


def test_a_tracing_change_is_one_update_with_the_whole_configuration(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tracing": True}
    assert shown(state.updates(ADDRESS, actual, {"arn": ARN})) == [
        ("stepfunctions:UpdateStateMachine", {"stateMachineArn": ARN, **CONFIGURATION})]


def test_a_definition_and_logging_change_is_still_one_update(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "definition": {"StartAt": "Old", "States": {"Old": {"Type": "Succeed"}}},
              "logging": {"level": "OFF", "include_execution_data": False, "destination": None}}
    [operation] = state.updates(ADDRESS, actual, {"arn": ARN})
    assert (str(operation), operation.params) == ("stepfunctions:UpdateStateMachine",
                                                  {"stateMachineArn": ARN, **CONFIGURATION})
    assert operation.purpose == "set definition, logging"


def test_tag_drift_is_an_untag_then_a_tag_call_and_nothing_else(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates(ADDRESS, actual, {"arn": ARN})) == [
        ("stepfunctions:UntagResource", {"resourceArn": ARN, "tagKeys": ["stray"]}),
        ("stepfunctions:TagResource", {"resourceArn": ARN, "tags": [{"key": "Project", "value": "shop"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates(ADDRESS, in_sync(state), {"arn": ARN}) == []


def test_delete_is_one_call_that_accepts_a_machine_already_gone(fake_state):
    state = fake_state(SPEC)
    owned = OwnedResource("state_machines", ADDRESS, "shop-dev-pipeline", ARN)
    [operation] = state.deletes("state_machines", owned)
    assert (str(operation), operation.params) == ("stepfunctions:DeleteStateMachine", {"stateMachineArn": ARN})
    assert operation.missing_ok
