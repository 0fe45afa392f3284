"""Secrets Manager secrets against moto in-process: quartet, drift and repair, a write-only value,
ownership, restore after destroy, recovery windows, pruning, grants and references from a function."""
from __future__ import annotations

import json
import string
import textwrap
from datetime import datetime, timezone

import pytest

from provisioner.engine.deployer import PlanBlocked
from provisioner.engine.diff import ABSENT
from provisioner.errors import OwnershipConflict, SpecError
from provisioner.render import plan_json
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from provisioner.spec.refs import contains_unknown
from tests.reconcilers.helpers import (
    assert_diff,
    assert_repaired,
    diffs_by_path,
    only_change,
    pending,
    run_quartet,
    write_code,
)

ACCOUNT = "123456789012"
NAME = "shop-dev-api"
SECRET = "secrets.api"

SPEC = """
    version: 1
    project: shop
    environment: dev
    tags:
      Owner: platform
    kms_keys:
      data: {deletion_window_days: 7}
    secrets:
      api:
        description: API signing key for the services
        kms_key: data
        generate: {length: 40, exclude_punctuation: true}
        recovery_window_days: 7
"""

EMPTY = """
    version: 1
    project: shop
    environment: dev
    secrets:
      api: {recovery_window_days: 0}
"""


@pytest.fixture
def applied(aws, write_spec, engine):
    """SPEC applied; returns (engine, secretsmanager client, ARN of the secret)."""
    eng = engine(write_spec(SPEC))
    eng.apply()
    sm = aws("secretsmanager")
    return eng, sm, sm.describe_secret(SecretId=NAME)["ARN"]


def key_arn(aws) -> str:
    return aws("kms").describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["Arn"]


def tags_of(sm, secret_id) -> dict:
    return {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=secret_id).get("Tags", [])}


def secret_names(sm) -> set:
    return {s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]}


# --- create, converge, the write-only value ---

def test_quartet(aws, write_spec, engine):
    eng = engine(write_spec(SPEC))
    run_quartet(eng)
    sm = aws("secretsmanager")
    meta = sm.describe_secret(SecretId=NAME)
    assert meta["Description"] == "API signing key for the services"
    assert meta["KmsKeyId"] == key_arn(aws)
    assert meta["ARN"].startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{NAME}-")
    tags = tags_of(sm, NAME)
    assert tags["provisioner:resource"] == SECRET
    assert tags["provisioner:recovery-window-days"] == "7"
    assert tags["Owner"] == "platform" and tags["ManagedBy"] == "provisioner"
    value = sm.get_secret_value(SecretId=NAME)["SecretString"]
    assert len(value) == 40
    assert not set(value) & set(string.punctuation)


def test_value_is_generated_once_and_never_compared_or_shown(applied):
    eng, sm, arn = applied
    sm.put_secret_value(SecretId=arn, SecretString="rotated by hand")

    plan = eng.plan()
    assert not plan.has_changes
    eng.apply()
    assert eng.calls.writes == 0
    assert eng.calls.calls[("secretsmanager", "GetSecretValue")] == 0
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "rotated by hand"
    assert "rotated by hand" not in json.dumps(plan_json(plan), default=str)


def test_without_generate_the_secret_is_created_empty(aws, write_spec, engine):
    eng = engine(write_spec(EMPTY))
    run_quartet(eng)
    sm = aws("secretsmanager")
    assert sm.list_secret_version_ids(SecretId=NAME)["Versions"] == []
    meta = sm.describe_secret(SecretId=NAME)
    assert "KmsKeyId" not in meta          # the AWS managed key
    assert eng.calls.calls[("secretsmanager", "GetRandomPassword")] == 0


# --- drift ---

def test_description_drift_is_repaired(applied):
    eng, sm, arn = applied
    sm.update_secret(SecretId=arn, Description="edited by hand")

    change = only_change(eng.plan(), SECRET)
    assert diffs_by_path(change) == {"description": ("edited by hand", "API signing key for the services")}

    assert_repaired(eng)
    assert sm.describe_secret(SecretId=arn)["Description"] == "API signing key for the services"


def test_kms_key_drift_is_repaired(aws, applied):
    eng, sm, arn = applied
    other = aws("kms").create_key(Description="someone else's")["KeyMetadata"]["Arn"]
    sm.update_secret(SecretId=arn, KmsKeyId=other)

    change = only_change(eng.plan(), SECRET)
    assert diffs_by_path(change) == {"kms_key": (other, key_arn(aws))}

    assert_repaired(eng)
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] == key_arn(aws)


def test_kms_key_removed_from_the_spec_goes_back_to_the_aws_managed_key(aws, applied, write_spec):
    eng, sm, arn = applied
    write_spec(SPEC.replace("        kms_key: data\n", ""))

    change = only_change(eng.plan(), SECRET)
    assert diffs_by_path(change) == {"kms_key": (key_arn(aws), None)}

    assert_repaired(eng)
    assert "KmsKeyId" not in sm.describe_secret(SecretId=arn)


def test_tags_drift_is_repaired(applied):
    eng, sm, arn = applied
    sm.tag_resource(SecretId=arn, Tags=[{"Key": "Owner", "Value": "someone-else"},
                                        {"Key": "Extra", "Value": "x"}])
    sm.untag_resource(SecretId=arn, TagKeys=["Project"])

    change = only_change(eng.plan(), SECRET)
    assert_diff(change, "tags.Owner", "someone-else", "platform")
    assert_diff(change, "tags.Extra", "x", ABSENT)
    assert_diff(change, "tags.Project", ABSENT, "shop")
    assert set(diffs_by_path(change)) == {"tags.Owner", "tags.Extra", "tags.Project"}

    assert_repaired(eng)
    tags = tags_of(sm, arn)
    assert tags["Owner"] == "platform" and tags["Project"] == "shop" and "Extra" not in tags


def test_recovery_window_change_updates_its_tag_only(applied, write_spec):
    eng, sm, arn = applied
    write_spec(SPEC.replace("recovery_window_days: 7", "recovery_window_days: 14"))

    change = only_change(eng.plan(), SECRET)
    assert diffs_by_path(change) == {"tags.provisioner:recovery-window-days": ("7", "14")}
    assert_repaired(eng)
    assert tags_of(sm, arn)["provisioner:recovery-window-days"] == "14"


def test_generate_is_write_only(applied, write_spec):
    eng, sm, arn = applied
    value = sm.get_secret_value(SecretId=arn)["SecretString"]
    write_spec(SPEC.replace("length: 40", "length: 64"))

    assert not eng.plan().has_changes
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == value


# --- ownership ---

@pytest.mark.parametrize("tags", [
    [],
    [{"Key": "provisioner:project", "Value": "shop"}, {"Key": "provisioner:environment", "Value": "prod"},
     {"Key": "provisioner:resource", "Value": SECRET}],
])
def test_foreign_secret_with_our_name_is_refused_and_never_touched(aws, write_spec, engine, tags):
    sm = aws("secretsmanager")
    arn = sm.create_secret(Name=NAME, Description="theirs", SecretString="their value", Tags=tags)["ARN"]
    eng = engine(write_spec(SPEC))

    with pytest.raises(OwnershipConflict, match=f"secrets.api: secret '{NAME}' exists but (has no provisioner|is owned by)"):
        eng.plan()
    with pytest.raises(OwnershipConflict):
        eng.apply()
    eng.destroy()
    meta = sm.describe_secret(SecretId=arn)
    assert meta["Description"] == "theirs" and "DeletedDate" not in meta
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "their value"


def test_foreign_secret_scheduled_for_deletion_is_not_restored(aws, write_spec, engine):
    sm = aws("secretsmanager")
    arn = sm.create_secret(Name=NAME)["ARN"]
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)

    with pytest.raises(OwnershipConflict, match=f"secret '{NAME}' exists but .*refusing to adopt"):
        engine(write_spec(SPEC)).apply()
    assert "DeletedDate" in sm.describe_secret(SecretId=arn)


# --- destroy, restore, pruning ---

def test_destroy_schedules_deletion_with_the_tagged_window_and_apply_restores(aws, write_spec, engine):
    eng = engine(write_spec(SPEC.replace("        kms_key: data\n", "")))
    eng.apply()
    sm = aws("secretsmanager")
    arn = sm.describe_secret(SecretId=NAME)["ARN"]
    value = sm.get_secret_value(SecretId=arn)["SecretString"]

    # destroy by tags, without the spec's settings: the window comes from the secret's tag
    plan, outcomes = eng.destroy()
    assert {c.address for c in plan.changes} == {SECRET, "kms_keys.data"}
    assert all(o.status == "done" for o in outcomes)
    deleted = sm.describe_secret(SecretId=arn)["DeletedDate"]
    assert round((deleted - datetime.now(timezone.utc)).total_seconds() / 86400) == 7
    assert not eng.destroy()[0].changes          # a secret scheduled for deletion is not ours to delete again

    eng.apply()
    assert eng.calls.calls[("secretsmanager", "RestoreSecret")] == 1
    assert eng.calls.calls[("secretsmanager", "CreateSecret")] == 0
    assert "DeletedDate" not in sm.describe_secret(SecretId=arn)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == value
    assert not eng.plan().has_changes


def test_secret_scheduled_for_deletion_is_shown_and_restored(applied):
    eng, sm, arn = applied
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=30)

    change = only_change(eng.plan(), SECRET)
    before, after = diffs_by_path(change)["deletion_date"]
    assert before is not None and after is None

    assert_repaired(eng)
    assert "DeletedDate" not in sm.describe_secret(SecretId=arn)


def test_window_zero_deletes_at_once(aws, write_spec, engine):
    eng = engine(write_spec(EMPTY))
    eng.apply()
    sm = aws("secretsmanager")

    eng.destroy()
    assert NAME not in secret_names(sm)
    eng.apply()                                   # the name is free again
    assert NAME in secret_names(sm)


PRUNE = """
    version: 1
    project: shop
    environment: dev
    secrets:
      keep: {}
      legacy:
        recovery_window_days: 0
        GENERATE
"""


def test_pruning_an_empty_secret_needs_no_flag(aws, write_spec, engine):
    eng = engine(write_spec(PRUNE.replace("GENERATE", "")))
    eng.apply()
    write_spec(PRUNE.replace("      legacy:\n        recovery_window_days: 0\n        GENERATE\n", ""))

    change = only_change(eng.plan(), "secrets.legacy", action="delete")
    assert change.reason == "not in the spec" and not change.blocked
    eng.apply()
    assert secret_names(aws("secretsmanager")) == {"shop-dev-keep"}


def test_pruning_a_secret_with_a_value_needs_allow_data_loss(aws, write_spec, engine):
    eng = engine(write_spec(PRUNE.replace("GENERATE", "generate: {}")))
    eng.apply()
    write_spec(PRUNE.replace("      legacy:\n        recovery_window_days: 0\n        GENERATE\n", ""))
    sm = aws("secretsmanager")

    change = only_change(eng.plan(), "secrets.legacy", action="delete")
    assert "allow-data-loss" in change.blocked
    with pytest.raises(PlanBlocked, match="it holds data"):
        eng.apply()
    assert "shop-dev-legacy" in secret_names(sm)

    allowed = engine(eng.spec_path, allow_data_loss=True)
    allowed.apply()
    assert secret_names(sm) == {"shop-dev-keep"}
    assert not allowed.plan().has_changes


# --- grants and references ---

FUNCTION = """
    version: 1
    project: shop
    environment: dev
    kms_keys:
      data: {deletion_window_days: 7}
    secrets:
      api:
        kms_key: data
        generate: {}
    lambda_functions:
      users:
        code: code
        handler: app.handler
        environment: {API_SECRET_ARN: "${secrets.api.arn}"}
        grants:
          - {secret: api, access: read}
"""


def test_function_gets_the_secret_arn_and_its_role_reads_only_that_secret(aws, write_spec, engine, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return {}\n"})
    eng = engine(write_spec(FUNCTION))
    create = pending(eng.plan())["lambda_functions.users"]
    assert contains_unknown(diffs_by_path(create)["environment"][1])   # the ARN exists once the secret does
    run_quartet(eng)

    arn = aws("secretsmanager").describe_secret(SecretId=NAME)["ARN"]
    config = aws("lambda").get_function_configuration(FunctionName="shop-dev-users")
    assert config["Environment"]["Variables"]["API_SECRET_ARN"] == arn
    document = aws("iam").get_role_policy(RoleName="shop-dev-users", PolicyName="grants")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["SecretApiRead"]["Action"] == ["secretsmanager:DescribeSecret",
                                                     "secretsmanager:GetSecretValue"]
    assert statements["SecretApiRead"]["Resource"] == [
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{NAME}-??????"]
    assert statements["KeyData"]["Action"] == ["kms:Decrypt"]
    assert statements["KeyData"]["Resource"] == [key_arn(aws)]


def test_role_grant_on_a_secret_does_not_wait_for_it(write_spec):
    spec = load_spec(str(write_spec("""
        version: 1
        project: shop
        environment: dev
        kms_keys:
          data: {}
        secrets:
          api: {kms_key: data}
          plain: {}
        iam_roles:
          worker:
            services: [lambda.amazonaws.com]
            grants:
              - {secret: api, access: read}
              - {secret: plain, access: read}
    """)), default_registry())
    # the pattern is known before the secret exists; the key's ARN is not
    assert spec.nodes["iam_roles.worker"].deps == {"kms_keys.data"}


# --- validate ---

def rejected(write_spec, body: str, at: str, message: str) -> str:
    text = "version: 1\nproject: shop\nenvironment: dev\n" + textwrap.dedent(body).lstrip("\n")
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(text)), default_registry())
    rendered = str(raised.value)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if at in row)
    assert any(f"spec.yaml:{line}:" in row and message in row for row in rendered.splitlines()), rendered
    return rendered


@pytest.mark.parametrize("body, at, message", [
    ("secrets:\n  api: {recovery_window_days: 3}\n", "recovery_window_days",
     "secrets.api.recovery_window_days: 3 is not allowed"),
    ("secrets:\n  api: {recovery_window_days: 31}\n", "recovery_window_days",
     "31 is greater than the maximum of 30"),
    ("secrets:\n  api:\n    generate: {length: 0}\n", "length",
     "secrets.api.generate.length: 0 is less than"),
    ("secrets:\n  api: {kms_key: missing}\n", "kms_key", "no resource 'missing' in kms_keys"),
    ("secrets:\n  api:\n    name: has space\n", "name:", "a Secrets Manager secret name may only contain"),
    ("secrets:\n  api: {}\niam_roles:\n  r:\n    services: [lambda.amazonaws.com]\n"
     "    grants: [{secret: api, access: write}]\n", "grants:", "access 'write' does not apply to secrets"),
])
def test_bad_input_is_rejected_with_line_and_path(write_spec, body, at, message):
    rejected(write_spec, body, at, message)


def test_a_value_in_the_spec_is_rejected_without_echoing_it(write_spec):
    rendered = rejected(write_spec, "secrets:\n  api:\n    value: hunter2-do-not-print\n", "value:",
                        "secrets.api.value: unknown property 'value'")
    assert "hunter2" not in rendered
