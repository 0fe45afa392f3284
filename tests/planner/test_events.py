"""Event rules: the calls of a create, of each update and of a delete, on fake state."""
from botocore.stub import Stubber

from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  jobs: {}
  audit: {}
event_rules:
  nightly:
    schedule: rate(1 day)
    targets:
      jobs: {sqs_queue: "${sqs_queues.jobs.arn}", input: {kind: nightly}}
"""
ADDRESS = "event_rules.nightly"
NAME = "shop-dev-nightly"
ARN = "arn:aws:events:us-east-1:123456789012:rule/shop-dev-nightly"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": ADDRESS}
RULE = {"Name": NAME, "State": "ENABLED", "Description": "", "ScheduleExpression": "rate(1 day)"}
JOBS_TARGET = {"Id": "jobs", "Arn": "arn:aws:sqs:us-east-1:123456789012:shop-dev-jobs", "Input": '{"kind": "nightly"}',
               "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}}


def test_create_puts_the_rule_with_its_tags_then_its_targets(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates(ADDRESS)) == [
        ("events:PutRule", {**RULE, "Tags": [{"Key": key, "Value": value} for key, value in sorted(OWNERSHIP.items())]}),
        ("events:PutTargets", {"Rule": NAME, "Targets": [JOBS_TARGET]})]


def in_sync(state) -> dict:
    return dict(state.desired(ADDRESS))


def test_a_schedule_change_puts_the_whole_rule_again_and_leaves_the_targets(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "schedule": "rate(2 days)"}
    assert shown(state.updates(ADDRESS, actual, {"arn": ARN})) == [("events:PutRule", RULE)]


def test_target_changes_remove_the_extra_ones_then_put_only_the_changed_ones(fake_state):
    state = fake_state(SPEC)
    desired = in_sync(state)
    audit = {**desired["targets"]["jobs"], "arn": "arn:aws:sqs:us-east-1:123456789012:shop-dev-audit"}
    actual = {**desired, "targets": {"jobs": {**desired["targets"]["jobs"], "input": None}, "audit": audit}}
    assert shown(state.updates(ADDRESS, actual, {"arn": ARN})) == [
        ("events:RemoveTargets", {"Rule": NAME, "Ids": ["audit"]}),
        ("events:PutTargets", {"Rule": NAME, "Targets": [JOBS_TARGET]})]


def test_tag_drift_is_an_untag_then_a_tag_call_and_nothing_else(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates(ADDRESS, actual, {"arn": ARN})) == [
        ("events:UntagResource", {"ResourceARN": ARN, "TagKeys": ["stray"]}),
        ("events:TagResource", {"ResourceARN": ARN, "Tags": [{"Key": "Project", "Value": "shop"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates(ADDRESS, in_sync(state), {"arn": ARN}) == []


def deletes(state, listed: dict | None) -> list:
    """The delete's operations, its read of the rule's targets answered with listed (None: no such rule)."""
    owned = OwnedResource("event_rules", ADDRESS, NAME, ARN)
    with Stubber(state.ctx.client("events")) as stub:
        if listed is None:
            stub.add_client_error("list_targets_by_rule", "ResourceNotFoundException", expected_params={"Rule": NAME})
        else:
            stub.add_response("list_targets_by_rule", listed, {"Rule": NAME})
        return state.deletes("event_rules", owned)


def test_delete_removes_the_targets_then_the_rule_either_already_gone_being_done(fake_state):
    state = fake_state(SPEC)
    operations = deletes(state, {"Targets": [{"Id": "jobs", "Arn": JOBS_TARGET["Arn"]}]})
    assert shown(operations) == [("events:RemoveTargets", {"Rule": NAME, "Ids": ["jobs"]}),
                                 ("events:DeleteRule", {"Name": NAME})]
    assert all(operation.missing_ok for operation in operations)


def test_delete_of_a_rule_already_gone_makes_no_write(fake_state):
    assert deletes(fake_state(SPEC), None) == []
