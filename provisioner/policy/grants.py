"""Grants: `{dynamodb_table: market, access: write}` compiled into exact least-privilege statements.

Each (kind, access) maps to a documented, minimal action list on exact ARNs: a table and its
`/index/*` when it has indexes, a bucket's objects under a prefix, a queue, a topic, a key, a log
group's streams, a secret (by AWS's pattern NAME-??????, its ARN ending in a random suffix).
A grant on a resource encrypted with a key of the spec adds the KMS actions that
access needs on exactly that key. A generated role may mark a function grant `qualified` (not in the
schema): it then also covers the function's versions and aliases, `ARN:*`, as Step Functions needs.
"""
from __future__ import annotations

import re

from provisioner.spec.refs import Ref, Template

# target field in a grant -> spec kind
TARGETS = {
    "dynamodb_table": "dynamodb_tables",
    "s3_bucket": "s3_buckets",
    "sqs_queue": "sqs_queues",
    "sns_topic": "sns_topics",
    "kms_key": "kms_keys",
    "log_group": "log_groups",
    "function": "lambda_functions",
    "state_machine": "state_machines",
    "secret": "secrets",
}
# kinds whose ARN follows from the name: a grant on them need not wait for them to exist
PREDICTABLE_ARNS = frozenset(TARGETS.values()) - {"kms_keys"}

DYNAMODB_READ = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
                 "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
DYNAMODB_WRITE = ["dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
                  "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:UpdateItem"]
DYNAMODB_STREAM = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
S3_OBJECT_READ = ["s3:GetObject", "s3:GetObjectVersion"]
S3_OBJECT_WRITE = ["s3:AbortMultipartUpload", "s3:PutObject"]
SQS_SEND = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
SQS_CONSUME = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
               "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
KMS_DECRYPT = ["kms:Decrypt", "kms:DescribeKey"]
KMS_ENCRYPT = ["kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
SECRET_READ = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]

# kind -> access -> documentation, used by the schema description and the README
ACCESS_LEVELS = {
    "dynamodb_tables": {
        "read": "GetItem, BatchGetItem, Query, Scan, ConditionCheckItem, DescribeTable on the table and its indexes",
        "write": "PutItem, UpdateItem, DeleteItem, BatchWriteItem, ConditionCheckItem, DescribeTable on the table",
        "read_write": "read + write",
        "stream": "DescribeStream, GetRecords, GetShardIterator on the table's streams (table/NAME/stream/*); "
                  "ListStreams (which only takes \"*\")",
    },
    "s3_buckets": {
        "read": "GetObject, GetObjectVersion on objects under prefix; ListBucket on the bucket limited to prefix",
        "write": "PutObject, AbortMultipartUpload on objects under prefix",
        "read_write": "read + write + DeleteObject under prefix",
        "delete": "DeleteObject under prefix",
    },
    "sqs_queues": {
        "send": "SendMessage, GetQueueAttributes, GetQueueUrl",
        "consume": "ReceiveMessage, DeleteMessage, ChangeMessageVisibility, GetQueueAttributes, GetQueueUrl",
        "send_consume": "send + consume",
    },
    "sns_topics": {"publish": "Publish"},
    "kms_keys": {
        "decrypt": "Decrypt, DescribeKey",
        "encrypt": "Encrypt, GenerateDataKey, DescribeKey",
        "encrypt_decrypt": "encrypt + decrypt",
    },
    "log_groups": {"write": "CreateLogStream, PutLogEvents on the group's streams"},
    "lambda_functions": {"invoke": "InvokeFunction on the function"},
    "state_machines": {"start": "StartExecution on the state machine"},
    "secrets": {"read": "GetSecretValue, DescribeSecret on the secret (ARN pattern NAME-??????, so the role "
                        "need not wait for it); Decrypt on its key when a key of the spec encrypts it"},
}


def grant_target(grant: dict) -> tuple[str, Ref]:
    for field, kind in TARGETS.items():
        if field in grant:
            return kind, grant[field]
    raise ValueError(f"grant without a target: {grant}")


def _arn(ref: Ref, suffix: str = ""):
    return Template((Ref(ref.address, "arn"), suffix)) if suffix else Ref(ref.address, "arn")


def _statement(sid: str, actions, resources, condition=None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _sid(*parts: str) -> str:
    """IAM accepts only letters and digits in a Sid."""
    words = re.split(r"[^A-Za-z0-9]+", " ".join(parts))
    return "".join(w[:1].upper() + w[1:] for w in words)[:100]


def encryption_key(target) -> Ref | None:
    """The spec key that encrypts a grant's target, if any."""
    encryption = target.props.get("encryption")
    key = target.props.get("kms_key") or (encryption.get("kms_key") if isinstance(encryption, dict) else None)
    return key if isinstance(key, Ref) else None


def _table(grant, ref, target, access, name):
    if access == "stream":
        # ListStreams has no resource type: "*" is the only form IAM accepts
        return [_statement(_sid("Stream", name), DYNAMODB_STREAM, [_arn(ref, "/stream/*")]),
                _statement("ListStreams", ["dynamodb:ListStreams"], ["*"])], KMS_DECRYPT
    actions = {"read": DYNAMODB_READ, "write": DYNAMODB_WRITE, "read_write": DYNAMODB_READ + DYNAMODB_WRITE}[access]
    resources = [_arn(ref)]
    if target.props.get("global_indexes") or target.props.get("local_indexes"):
        resources.append(_arn(ref, "/index/*"))
    return ([_statement(_sid("Table", name, access), actions, resources)],
            KMS_DECRYPT if access == "read" else KMS_DECRYPT + KMS_ENCRYPT)


def _bucket(grant, ref, target, access, name):
    prefix = grant.get("prefix", "")
    object_actions = {"read": S3_OBJECT_READ, "write": S3_OBJECT_WRITE, "delete": ["s3:DeleteObject"],
                      "read_write": S3_OBJECT_READ + S3_OBJECT_WRITE + ["s3:DeleteObject"]}[access]
    statements = [_statement(_sid("Objects", name, prefix, access), object_actions, [_arn(ref, f"/{prefix}*")])]
    if access in ("read", "read_write"):
        condition = {"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None
        statements.append(_statement(_sid("List", name, prefix), ["s3:ListBucket"], [_arn(ref)], condition))
    return statements, KMS_DECRYPT if access == "read" else KMS_DECRYPT + KMS_ENCRYPT


def _queue(grant, ref, target, access, name):
    actions = {"send": SQS_SEND, "consume": SQS_CONSUME, "send_consume": SQS_SEND + SQS_CONSUME}[access]
    return ([_statement(_sid("Queue", name, access), actions, [_arn(ref)])],
            {"send": KMS_ENCRYPT + ["kms:Decrypt"], "consume": KMS_DECRYPT,
             "send_consume": KMS_DECRYPT + KMS_ENCRYPT}[access])


def _topic(grant, ref, target, access, name):
    return [_statement(_sid("Topic", name, access), ["sns:Publish"], [_arn(ref)])], KMS_DECRYPT + ["kms:GenerateDataKey"]


def _key(grant, ref, target, access, name):
    actions = {"decrypt": KMS_DECRYPT, "encrypt": KMS_ENCRYPT, "encrypt_decrypt": KMS_DECRYPT + KMS_ENCRYPT}[access]
    return [_statement(_sid("Key", name), actions, [_arn(ref)])], None


def _log_group(grant, ref, target, access, name):
    return [_statement(_sid("Logs", name), ["logs:CreateLogStream", "logs:PutLogEvents"],
                       [_arn(ref, ":log-stream:*")])], None


def _secret(grant, ref, target, access, name):
    # the ARN ends in a random suffix: grant on AWS's pattern for exactly this secret
    return [_statement(_sid("Secret", name, access), SECRET_READ, [Ref(ref.address, "_grant_arn")])], ["kms:Decrypt"]


def _function(grant, ref, target, access, name):
    resources = [_arn(ref)]
    if grant.get("qualified"):   # set by generated roles only (Step Functions): also NAME:* (versions, aliases)
        resources.append(_arn(ref, ":*"))
    return [_statement(_sid("Invoke", name), ["lambda:InvokeFunction"], resources)], None


def _state_machine(grant, ref, target, access, name):
    return [_statement(_sid("Start", name), ["states:StartExecution"], [_arn(ref)])], None


# kind -> grant(grant, ref, target node, access, name) -> (statements, KMS actions on the target's key or None)
GRANTS_BY_KIND = {"dynamodb_tables": _table, "s3_buckets": _bucket, "sqs_queues": _queue, "sns_topics": _topic,
                  "kms_keys": _key, "log_groups": _log_group, "secrets": _secret, "lambda_functions": _function,
                  "state_machines": _state_machine}


def compile_grants(grants: list, spec) -> list[dict]:
    """Statements for a list of grants (references stay Refs until the executor resolves them)."""
    statements = []
    for grant in grants:
        kind, ref = grant_target(grant)
        target = spec.nodes[ref.address]
        made, kms_actions = GRANTS_BY_KIND[kind](grant, ref, target, grant["access"], target.name)
        statements.extend(made)
        key = encryption_key(target)
        if kms_actions and key is not None:
            statements.append(_statement(_sid("Key", key.address.split(".", 1)[1]),
                                         kms_actions, [Ref(key.address, "arn")]))
    return _merge_same_sid(statements)


def _merge_same_sid(statements: list[dict]) -> list[dict]:
    """Statements with one Sid become one when that grants nothing more than the parts did.

    Same resources: the actions are joined (three grants on resources encrypted with one key give
    one statement on that key). Same actions: the resources are joined. Anything else keeps its
    own statement under a numbered Sid, since a join would allow every action on every resource.
    """
    merged: dict[str, dict] = {}
    for statement in statements:
        sid = statement["Sid"]
        existing = merged.get(sid)
        if existing is None:
            merged[sid] = statement
        elif existing.get("Condition") != statement.get("Condition"):
            merged[_free_sid(sid, merged)] = {**statement, "Sid": _free_sid(sid, merged)}
        elif existing["Resource"] == statement["Resource"]:
            existing["Action"] = sorted(set(existing["Action"]) | set(statement["Action"]))
        elif existing["Action"] == statement["Action"]:
            existing["Resource"] += [r for r in statement["Resource"] if r not in existing["Resource"]]
        else:
            free = _free_sid(sid, merged)
            merged[free] = {**statement, "Sid": free}
    return list(merged.values())


def _free_sid(sid: str, taken: dict) -> str:
    number = 2
    while f"{sid}{number}" in taken:
        number += 1
    return f"{sid}{number}"
