"""IAM roles: the calls of a create, of each update and of a delete, on fake state."""
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
iam_roles:
  worker:
    services: [lambda.amazonaws.com]
    policies:
      logs: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "logs:PutLogEvents", Resource: "arn:aws:logs:us-east-1:123456789012:log-group:x:*"}]}
    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
"""
ROLE = "shop-dev-worker"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": "iam_roles.worker"}
TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]},'
         '"Action":"sts:AssumeRole"}]}')
LOGS = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents",'
        '"Resource":"arn:aws:logs:us-east-1:123456789012:log-group:x:*"}]}')


def test_create_is_the_role_with_its_tags_then_its_policies(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("iam_roles.worker")) == [
        ("iam:CreateRole", {"RoleName": ROLE, "Path": "/", "Description": "", "AssumeRolePolicyDocument": TRUST,
                            "MaxSessionDuration": 3600,
                            "Tags": [{"Key": k, "Value": v} for k, v in sorted(OWNERSHIP.items())]}),
        ("iam:PutRolePolicy", {"RoleName": ROLE, "PolicyName": "logs", "PolicyDocument": LOGS}),
        ("iam:AttachRolePolicy", {"RoleName": ROLE, "PolicyArn": READ_ONLY})]


def in_sync(state) -> dict:
    return {k: v for k, v in state.desired("iam_roles.worker").items() if not k.startswith("_")}


def test_a_session_duration_change_is_one_update_role_with_the_description(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "max_session_duration": 7200}
    assert shown(state.updates("iam_roles.worker", actual, {"name": ROLE})) == [
        ("iam:UpdateRole", {"RoleName": ROLE, "Description": "", "MaxSessionDuration": 3600})]


def test_policies_are_put_or_attached_then_the_extra_ones_removed(fake_state):
    state = fake_state(SPEC)
    synced = in_sync(state)
    actual = {**synced, "inline_policies": {"logs": None, "old": synced["inline_policies"]["logs"]},
              "managed_policies": ["arn:aws:iam::aws:policy/Other"]}
    assert shown(state.updates("iam_roles.worker", actual, {"name": ROLE})) == [
        ("iam:PutRolePolicy", {"RoleName": ROLE, "PolicyName": "logs", "PolicyDocument": LOGS}),
        ("iam:DeleteRolePolicy", {"RoleName": ROLE, "PolicyName": "old"}),
        ("iam:AttachRolePolicy", {"RoleName": ROLE, "PolicyArn": READ_ONLY}),
        ("iam:DetachRolePolicy", {"RoleName": ROLE, "PolicyArn": "arn:aws:iam::aws:policy/Other"})]


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates("iam_roles.worker", actual, {"name": ROLE})) == [
        ("iam:UntagRole", {"RoleName": ROLE, "TagKeys": ["stray"]}),
        ("iam:TagRole", {"RoleName": ROLE, "Tags": [{"Key": "Project", "Value": "shop"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("iam_roles.worker", in_sync(state), {"name": ROLE}) == []


def test_delete_takes_off_what_the_listing_shows_then_deletes_the_role_each_accepting_it_gone(fake_state):
    state = fake_state(SPEC)
    listed = {"RoleName": ROLE, "RolePolicyList": [{"PolicyName": "logs"}],
              "AttachedManagedPolicies": [{"PolicyArn": READ_ONLY}],
              "InstanceProfileList": [{"InstanceProfileName": "profile"}],
              "PermissionsBoundary": {"PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/boundary"}}
    state.ctx.memo("iam_roles", lambda: ({ROLE: listed}, set()))   # the run's account listing
    owned = OwnedResource("iam_roles", "iam_roles.worker", ROLE, f"arn:aws:iam::123456789012:role/{ROLE}")
    operations = state.deletes("iam_roles", owned)
    assert shown(operations) == [
        ("iam:DeleteRolePolicy", {"RoleName": ROLE, "PolicyName": "logs"}),
        ("iam:DetachRolePolicy", {"RoleName": ROLE, "PolicyArn": READ_ONLY}),
        ("iam:RemoveRoleFromInstanceProfile", {"InstanceProfileName": "profile", "RoleName": ROLE}),
        ("iam:DeleteRolePermissionsBoundary", {"RoleName": ROLE}),
        ("iam:DeleteRole", {"RoleName": ROLE})]
    assert all(operation.missing_ok for operation in operations)
