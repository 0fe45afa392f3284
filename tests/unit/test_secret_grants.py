"""Grants on secrets: read only, on AWS's ARN pattern for exactly that secret, Decrypt on its spec key."""
from __future__ import annotations

import pytest

from provisioner.aws.session import OfflineAws
from provisioner.engine.context import Context
from provisioner.engine.ownership import Owner
from provisioner.errors import SpecError
from provisioner.policy.grants import ACCESS_LEVELS, KMS_DECRYPT, compile_grants
from provisioner.policy.lint import lint_policy
from provisioner.services import default_registry
from provisioner.spec.model import load_spec

SPEC = """
version: 1
project: shop
environment: dev
kms_keys:
  data: {}
sqs_queues:
  orders: {kms_key: data}
secrets:
  api: {kms_key: data}
  plain: {name: "{project}/{environment}/plain"}
iam_roles:
  worker:
    services: [lambda.amazonaws.com]
    grants: GRANTS
"""


def _spec(write_spec, grants: str):
    return load_spec(str(write_spec(SPEC.replace("GRANTS", grants))), default_registry())


def _compile(write_spec, grants: str) -> dict:
    spec = _spec(write_spec, grants)
    return {s["Sid"]: s for s in compile_grants(spec.nodes["iam_roles.worker"].props["grants"], spec)}


def _resolved(spec, statements: list) -> list:
    """The statements as IAM receives them, references resolved from predicted outputs."""
    ctx = Context(OfflineAws(spec.region), Owner(spec.project, spec.environment), spec.registry, spec)
    for address, node in spec.nodes.items():
        ctx.set_outputs(address, spec.registry[node.kind].predicted_outputs(node, ctx))
    return ctx.resolve(statements)


def test_read_is_the_only_access_and_is_documented():
    assert set(ACCESS_LEVELS["secrets"]) == {"read"}


def test_read_gives_get_and_describe_on_the_secret_pattern_and_decrypt_on_its_key(write_spec):
    spec = _spec(write_spec, "[{secret: api, access: read}]")
    statements = {s["Sid"]: s for s in _resolved(
        spec, compile_grants(spec.nodes["iam_roles.worker"].props["grants"], spec))}
    assert set(statements) == {"SecretApiRead", "KeyData"}
    assert statements["SecretApiRead"]["Action"] == ["secretsmanager:DescribeSecret",
                                                     "secretsmanager:GetSecretValue"]
    assert statements["SecretApiRead"]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop-dev-api-??????"]
    assert statements["KeyData"]["Action"] == ["kms:Decrypt"]


def test_a_secret_with_the_aws_managed_key_gets_no_key_statement_and_its_own_name(write_spec):
    spec = _spec(write_spec, "[{secret: plain, access: read}]")
    statements = _resolved(spec, compile_grants(spec.nodes["iam_roles.worker"].props["grants"], spec))
    assert [s["Sid"] for s in statements] == ["SecretPlainRead"]
    assert statements[0]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/dev/plain-??????"]


def test_secret_and_queue_on_one_key_share_one_key_statement(write_spec):
    statements = _compile(write_spec, "[{secret: api, access: read}, {sqs_queue: orders, access: consume}]")
    keys = [s for s in statements.values() if s["Sid"].startswith("Key")]
    assert len(keys) == 1
    assert keys[0]["Action"] == sorted(set(KMS_DECRYPT))


def test_compiled_statement_passes_the_policy_lint(write_spec):
    spec = _spec(write_spec, "[{secret: api, access: read}, {secret: plain, access: read}]")
    document = {"Version": "2012-10-17",
                "Statement": compile_grants(spec.nodes["iam_roles.worker"].props["grants"], spec)}
    assert lint_policy(document, spec, spec.registry) == []


def test_an_access_a_secret_does_not_have_is_an_error(write_spec):
    with pytest.raises(SpecError, match="access 'write' does not apply to secrets; use one of: read"):
        _spec(write_spec, "[{secret: api, access: write}]")


def test_hand_written_policy_on_a_secret_arn_passes_the_lint(write_spec):
    spec = load_spec(str(write_spec("""
        version: 1
        project: shop
        environment: dev
        secrets:
          api: {}
        iam_roles:
          worker:
            services: [lambda.amazonaws.com]
            policies:
              read:
                Statement:
                  - {Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: "${secrets.api.arn}"}
    """)), default_registry())
    assert not spec.warnings
    document = spec.nodes["iam_roles.worker"].props["policies"]["read"]
    assert lint_policy(document, spec, spec.registry) == []
