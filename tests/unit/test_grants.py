"""Grant compilation: exact actions, exact resources, and statements merged only when safe."""
from __future__ import annotations

from provisioner.policy.grants import (
    KMS_DECRYPT,
    KMS_ENCRYPT,
    S3_OBJECT_READ,
    S3_OBJECT_WRITE,
    compile_grants,
)
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
sns_topics:
  events: {kms_key: data}
s3_buckets:
  files: {encryption: {kms_key: data}}
iam_roles:
  worker:
    services: [lambda.amazonaws.com]
    grants: GRANTS
"""


def _compile(write_spec, grants: str) -> dict:
    spec = load_spec(write_spec(SPEC.replace("GRANTS", grants)), default_registry())
    statements = compile_grants(spec.nodes["iam_roles.worker"].props["grants"], spec)
    return {s["Sid"]: s for s in statements}


def _resources(statement) -> list[str]:
    return [str(r) for r in statement["Resource"]]


def test_every_resource_on_one_key_gives_one_key_statement_with_the_union_of_actions(write_spec):
    statements = _compile(write_spec, """
      - {sqs_queue: orders, access: consume}
      - {sns_topic: events, access: publish}
      - {s3_bucket: files, access: read}""")
    keys = [s for s in statements.values() if any("kms_keys.data" in r for r in _resources(s))]
    assert len(keys) == 1
    assert keys[0]["Action"] == sorted(set(KMS_DECRYPT + ["kms:GenerateDataKey"]))


def test_sids_are_letters_and_digits_only(write_spec):
    statements = _compile(write_spec, """
      - {s3_bucket: files, access: read, prefix: incoming/2024_raw-files/}""")
    assert set(statements) == {"ObjectsFilesIncoming2024RawFilesRead", "ListFilesIncoming2024RawFiles", "KeyData"}


def test_one_sid_for_different_actions_on_different_resources_stays_two_statements(write_spec):
    # prefix "read/" + write and no prefix + read_write both spell ObjectsFilesReadWrite
    statements = _compile(write_spec, """
      - {s3_bucket: files, access: write, prefix: read/}
      - {s3_bucket: files, access: read_write}""")
    first, second = statements["ObjectsFilesReadWrite"], statements["ObjectsFilesReadWrite2"]
    assert first["Action"] == sorted(S3_OBJECT_WRITE)
    assert _resources(first) == ["${s3_buckets.files.arn}/read/*"]
    assert first["Action"] != second["Action"]
    assert set(S3_OBJECT_READ) <= set(second["Action"])
    assert _resources(second) == ["${s3_buckets.files.arn}/*"]


def test_same_actions_on_two_prefixes_join_their_resources(write_spec):
    statements = _compile(write_spec, """
      - {s3_bucket: files, access: write, prefix: a-b/}
      - {s3_bucket: files, access: write, prefix: a_b/}""")
    objects = statements["ObjectsFilesABWrite"]
    assert _resources(objects) == ["${s3_buckets.files.arn}/a-b/*", "${s3_buckets.files.arn}/a_b/*"]
    assert objects["Action"] == sorted(S3_OBJECT_WRITE)
    assert set(statements["KeyData"]["Action"]) == set(KMS_DECRYPT + KMS_ENCRYPT)
