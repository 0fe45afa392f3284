"""provisioner.policy.canonical: semantic equality of IAM policies, and diffs that name the statement."""
from __future__ import annotations

import json

import pytest

from provisioner.engine.diff import diff
from provisioner.policy.canonical import canonical_policy, canonical_statement, policy_json

ACCOUNT = "123456789012"


def statement(sid=None, **fields):
    body = {"Effect": "Allow", **fields}
    return {"Sid": sid, **body} if sid else body


SEND = statement("SendFromTopic", Principal={"Service": "sns.amazonaws.com"}, Action="sqs:SendMessage",
                 Resource="arn:aws:sqs:us-east-1:123456789012:q",
                 Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}})
ADMIN = statement("Admin", Principal={"AWS": ACCOUNT}, Action=["sqs:*"], Resource="*")


def policy(*statements, **extra):
    return {"Version": "2012-10-17", "Statement": list(statements), **extra}


def test_statement_order_does_not_matter():
    assert canonical_policy(policy(SEND, ADMIN)) == canonical_policy(policy(ADMIN, SEND))


def test_statement_order_does_not_matter_without_sids():
    a = statement(Principal="*", Action="sqs:ReceiveMessage", Resource="*")
    b = statement(Principal="*", Action="sqs:DeleteMessage", Resource="*")
    assert canonical_policy(policy(a, b)) == canonical_policy(policy(b, a))
    assert canonical_policy(policy(a)) != canonical_policy(policy(b))


def test_string_and_one_element_list_are_equal():
    one = statement("S", Action="kms:Decrypt", Resource="*", Principal={"Service": "sqs.amazonaws.com"})
    listed = statement("S", Action=["kms:Decrypt"], Resource=["*"], Principal={"Service": ["sqs.amazonaws.com"]})
    assert canonical_policy(policy(one)) == canonical_policy(policy(listed))


def test_action_lists_are_sets():
    a = statement("S", Action=["kms:Decrypt", "kms:Encrypt", "kms:Decrypt"], Resource="*")
    b = statement("S", Action=["kms:Encrypt", "kms:Decrypt"], Resource="*")
    assert canonical_policy(policy(a)) == canonical_policy(policy(b))


def test_account_id_equals_root_arn():
    by_id = statement("Root", Principal={"AWS": ACCOUNT}, Action="kms:*", Resource="*")
    by_arn = statement("Root", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Action="kms:*", Resource="*")
    assert canonical_policy(policy(by_id)) == canonical_policy(policy(by_arn))
    other = statement("Root", Principal={"AWS": "210987654321"}, Action="kms:*", Resource="*")
    assert canonical_policy(policy(by_id)) != canonical_policy(policy(other))


def test_star_principal_equals_aws_star():
    star = statement("Public", Principal="*", Action="sqs:SendMessage", Resource="*")
    aws_star = statement("Public", Principal={"AWS": "*"}, Action="sqs:SendMessage", Resource="*")
    aws_star_list = statement("Public", Principal={"AWS": ["*"]}, Action="sqs:SendMessage", Resource="*")
    assert canonical_policy(policy(star)) == canonical_policy(policy(aws_star)) == \
        canonical_policy(policy(aws_star_list))
    service = statement("Public", Principal={"Service": "*"}, Action="sqs:SendMessage", Resource="*")
    assert canonical_policy(policy(star)) != canonical_policy(policy(service))


def test_scalar_condition_value_equals_list():
    a = statement("S", Action="s:A", Resource="*", Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})
    b = statement("S", Action="s:A", Resource="*", Condition={"StringEquals": {"aws:SourceAccount": [ACCOUNT]}})
    assert canonical_policy(policy(a)) == canonical_policy(policy(b))


def test_boolean_condition_value_equals_its_text():
    written = statement("TLS", Effect="Deny", Principal="*", Action="sqs:*", Resource="*",
                        Condition={"Bool": {"aws:SecureTransport": False}})
    returned = {**written, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert canonical_policy(policy(written)) == canonical_policy(policy(returned))
    assert canonical_policy(json.dumps(policy(written))) == canonical_policy(policy(returned))
    flipped = {**written, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    assert canonical_policy(policy(written)) != canonical_policy(policy(flipped))


def test_json_text_equals_mapping_and_effect_defaults_to_allow():
    text = json.dumps(policy(SEND, ADMIN), indent=4)
    no_effect = {k: v for k, v in ADMIN.items() if k != "Effect"}
    assert canonical_policy(text) == canonical_policy(policy(SEND, no_effect))


def test_single_statement_mapping_and_missing_version():
    assert canonical_policy({"Statement": ADMIN}) == canonical_policy(policy(ADMIN))
    assert canonical_policy({"Statement": [ADMIN]})["Version"] == "2012-10-17"


def test_effect_and_version_are_compared():
    deny = {**ADMIN, "Effect": "Deny"}
    assert canonical_policy(policy(ADMIN)) != canonical_policy(policy(deny))
    assert canonical_policy(policy(ADMIN)) != canonical_policy({"Version": "2008-10-17", "Statement": [ADMIN]})


@pytest.mark.parametrize("empty", [None, "", {}])
def test_no_policy(empty):
    assert canonical_policy(empty) is None


def test_changed_action_is_a_diff_naming_the_sid():
    changed = {**SEND, "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"]}
    [change] = diff({"policy": canonical_policy(policy(ADMIN, changed))},
                    {"policy": canonical_policy(json.dumps(policy(SEND, ADMIN)))})
    assert change.path == "policy.Statement.SendFromTopic.Action"
    assert change.before == ["sqs:SendMessage"]
    assert change.after == ["sqs:GetQueueAttributes", "sqs:SendMessage"]


def test_added_statement_is_a_diff_naming_the_sid():
    diffs = diff({"policy": canonical_policy(policy(ADMIN, SEND))}, {"policy": canonical_policy(policy(ADMIN))})
    assert [d.path for d in diffs] == ["policy.Statement.SendFromTopic"]


def test_canonical_statement_drops_sid_and_sorts():
    assert canonical_statement({"Sid": "X", "Action": ["b", "a"], "Principal": {"AWS": [ACCOUNT, "*"]}}) == {
        "Effect": "Allow", "Action": ["a", "b"], "Principal": {"AWS": ["*", f"arn:aws:iam::{ACCOUNT}:root"]}}


def test_policy_json_adds_version_first_and_is_compact():
    text = policy_json({"Statement": [ADMIN]})
    assert text.startswith('{"Version":"2012-10-17","Statement":')
    assert " " not in text.replace("sqs:*", "")
    assert json.loads(policy_json({"Version": "2008-10-17", "Statement": []}))["Version"] == "2008-10-17"
