"""IAM roles are read from one account-wide listing per run (GetAccountAuthorizationDetails + ListRoles),
on moto in-process: drift is still exact, foreign roles stay untouched, and deletes cope with a role
that changed after the run listed it."""
from __future__ import annotations

import json

from provisioner.engine.factory import Factory, Settings
from tests.reconcilers.helpers import pending

SPEC = """
version: 1
project: shop
environment: dev
iam_roles:
  a:
    services: [lambda.amazonaws.com]
    policies:
      logs: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "logs:PutLogEvents", Resource: "arn:aws:logs:us-east-1:123456789012:log-group:x:*"}]}
      queue: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:123456789012:q"}]}
  b:
    services: [states.amazonaws.com]
    description: runs the workflow
    max_session_duration: 7200
  c:
    services: [lambda.amazonaws.com]
"""
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
EXTRA = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]})


def test_roles_are_read_from_one_listing_and_drift_is_exact(write_spec, engine, aws):
    e = engine(write_spec(SPEC))
    e.apply()
    plan = e.plan()
    assert not plan.has_changes
    iam_calls = {op: n for (service, op), n in e.calls.calls.items() if service == "iam"}
    assert iam_calls == {"GetAccountAuthorizationDetails": 1, "ListRoles": 1}, iam_calls

    iam = aws("iam")
    iam.put_role_policy(RoleName="shop-dev-c", PolicyName="extra", PolicyDocument=EXTRA)
    iam.delete_role_policy(RoleName="shop-dev-a", PolicyName="queue")
    iam.update_role(RoleName="shop-dev-b", Description="changed by hand", MaxSessionDuration=3600)
    iam.tag_role(RoleName="shop-dev-b", Tags=[{"Key": "team", "Value": "x"}])
    changes = pending(e.plan())
    paths = {address: sorted(d.path for d in c.diffs) for address, c in changes.items()}
    assert paths == {
        "iam_roles.a": ["inline_policies.queue"],
        "iam_roles.b": ["description", "max_session_duration", "tags.team"],
        "iam_roles.c": ["inline_policies.extra"],
    }, paths
    e.apply()
    assert not e.plan().has_changes
    assert iam.list_role_policies(RoleName="shop-dev-c")["PolicyNames"] == []


def test_a_missing_role_is_created_and_foreign_roles_are_left_alone(write_spec, engine, aws):
    iam = aws("iam")
    iam.create_role(RoleName="shop-dev-other", AssumeRolePolicyDocument=TRUST,
                    Tags=[{"Key": "provisioner:project", "Value": "shop"}])       # no environment tag
    iam.create_role(RoleName="unrelated", AssumeRolePolicyDocument=TRUST)
    e = engine(write_spec(SPEC))
    e.apply()
    iam.delete_role_policy(RoleName="shop-dev-a", PolicyName="logs")
    iam.delete_role_policy(RoleName="shop-dev-a", PolicyName="queue")
    iam.delete_role(RoleName="shop-dev-a")
    changes = pending(e.plan())
    assert {address: c.action for address, c in changes.items()} == {"iam_roles.a": "create"}
    e.apply()
    e.destroy()
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == ["shop-dev-other", "unrelated"]


def test_destroy_deletes_a_role_that_was_changed_after_the_run_listed_it(write_spec, aws):
    path = write_spec(SPEC)
    factory = Factory(Settings(region="us-east-1"))
    spec = factory.load_spec(str(path), None)
    ctx = factory.context(spec.project, spec.environment, spec)
    assert not [o for o in factory.executor(ctx, None).run(factory.planner(ctx).plan(spec).changes)
                if o.status != "done"]

    spec = factory.load_spec(str(path), None)
    ctx = factory.context(spec.project, spec.environment, spec)
    plan = factory.planner(ctx).plan_destroy()      # lists the roles
    iam = aws("iam")
    iam.put_role_policy(RoleName="shop-dev-c", PolicyName="late", PolicyDocument=EXTRA)
    profile = iam.create_instance_profile(InstanceProfileName="late")["InstanceProfile"]["InstanceProfileName"]
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName="shop-dev-b")
    iam.delete_role_policy(RoleName="shop-dev-a", PolicyName="queue")   # gone before the delete asks
    outcomes = factory.executor(ctx, None).run(plan.changes)
    assert [o.error for o in outcomes if o.status != "done"] == []
    assert iam.list_roles()["Roles"] == []
    assert iam.get_instance_profile(InstanceProfileName="late")["InstanceProfile"]["Roles"] == []
