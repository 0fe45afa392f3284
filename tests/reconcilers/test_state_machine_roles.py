"""A state machine on moto running as the user's own role, or with hand-written policies beside its generated
role: created, read back, a swapped role and a removed policy caught by diff."""
from __future__ import annotations

import json

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import assert_diff, assert_repaired, pending, run_quartet

SPEC = """
version: 1
project: shop
environment: dev
iam_roles:
  workflow:
    services: [states.amazonaws.com]
    policies:
      events:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: events:PutEvents, Resource: "arn:aws:events:us-east-1:123456789012:event-bus/default"}]
state_machines:
  own:
    role: workflow
    logging: {level: OFF}
    definition: {StartAt: Done, States: {Done: {Type: Succeed}}}
  extra:
    logging: {level: OFF}
    policies:
      events:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: events:PutEvents, Resource: "arn:aws:events:us-east-1:123456789012:event-bus/default"}]
    definition:
      StartAt: Emit
      States:
        Emit:
          Type: Task
          Resource: arn:aws:states:::events:putEvents
          Parameters: {Entries: [{Source: shop, DetailType: Done, Detail: {}}]}
          Retry: [{ErrorEquals: [States.ALL]}]
          Catch: [{ErrorEquals: [States.ALL], Next: Failed}]
          End: true
        Failed: {Type: Fail}
"""
ACCOUNT = "123456789012"


@pytest.fixture
def spec_path(write_spec):
    return write_spec(SPEC)


def _machine(aws, name):
    return aws("stepfunctions").describe_state_machine(
        stateMachineArn=f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:shop-dev-{name}")


def test_own_role_and_extra_policies(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    assert _machine(aws, "own")["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/shop-dev-workflow"
    assert _machine(aws, "extra")["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/shop-dev-extra"
    iam = aws("iam")
    assert "shop-dev-own" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}   # no generated role
    events = iam.get_role_policy(RoleName="shop-dev-extra", PolicyName="events")["PolicyDocument"]
    assert events["Statement"][0]["Action"] == "events:PutEvents"


def test_a_swapped_role_and_a_removed_policy_are_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    aws("stepfunctions").update_state_machine(stateMachineArn=_machine(aws, "own")["stateMachineArn"],
                                              roleArn=f"arn:aws:iam::{ACCOUNT}:role/shop-dev-extra")
    aws("iam").delete_role_policy(RoleName="shop-dev-extra", PolicyName="events")
    plan = e.plan()
    assert set(pending(plan)) == {"state_machines.own", "iam_roles.extra-role"}
    assert_diff(pending(plan)["state_machines.own"], "role", f"arn:aws:iam::{ACCOUNT}:role/shop-dev-extra",
                f"arn:aws:iam::{ACCOUNT}:role/shop-dev-workflow")
    assert_repaired(e)


def test_a_role_from_outside_the_spec_by_arn(write_spec, engine, aws):
    arn = aws("iam").create_role(RoleName="legacy-workflow", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    path = write_spec(SPEC.replace("    role: workflow\n", f"    role: {arn}\n"))
    e = engine(path)
    e.apply()
    assert _machine(aws, "own")["roleArn"] == arn
    assert not e.plan().has_changes
    e.destroy()
    assert aws("iam").get_role(RoleName="legacy-workflow")   # not ours: left alone


def test_grants_or_policies_next_to_an_own_role_are_rejected(write_spec):
    text = SPEC.replace("    role: workflow\n", "    role: workflow\n    grants: [{sqs_queue: q, access: send}]\n")
    text = text.replace("iam_roles:", "sqs_queues:\n  q: {}\niam_roles:")
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(text)), default_registry())
    assert "grants go into the generated role; with role: give them to that role" in str(raised.value)
