"""What a function implies, built as ordinary nodes: its log group /aws/lambda/NAME (created first, so
retention and encryption hold from the first log line) and, unless `role:` names one, a role compiled from
its grants plus exactly what its own settings need (its log group, its dead-letter target, its asynchronous
destinations, the queues and streams it polls, X-Ray); a package sent through S3 may imply the
environment's artifacts bucket (see lambda_code)."""
from __future__ import annotations

from provisioner.services.lambda_code import artifacts_bucket
from provisioner.spec.refs import Ref

DESTINATION_FIELDS = ("sqs_queue", "sns_topic", "function")
XRAY_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def role_name(function: str) -> str:
    return f"{function}-role"


def log_group_name(function: str) -> str:
    return f"{function}-logs"


def destination(target: dict | None):
    """{sqs_queue: x} / {sns_topic: x} / {function: x} -> the target's Ref (or None)."""
    if not target:
        return None
    return next(target[f] for f in DESTINATION_FIELDS if f in target)


def send_targets(props) -> list[dict]:
    """The dead-letter target and the asynchronous destinations the function sends to."""
    return [target for target in (props.get("dead_letter_queue"), props.get("async", {}).get("on_failure"),
                                  props.get("async", {}).get("on_success")) if target]


def implied_resources(node, spec) -> list:
    """The function's log group, its role unless `role:` names one, and the artifacts bucket its package may
    need; the function's props are pointed at them."""
    props = node.props
    out = artifacts_bucket(node, spec) + [("log_groups", log_group_name(node.name), {
        "name": f"/aws/lambda/{node.physical_name}",
        **({"retention_days": props["logs"]["retention_days"]} if "retention_days" in props["logs"] else {}),
        **({"kms_key": props["logs"]["kms_key"]} if "kms_key" in props["logs"] else {})})]
    props["log_group"] = Ref(f"log_groups.{log_group_name(node.name)}", "name")
    if "role" not in props:
        out.append(("iam_roles", role_name(node.name), {
            "name": node.physical_name,
            "description": f"Execution role of {node.physical_name}",
            "services": ["lambda.amazonaws.com"],
            "grants": role_grants(node),
            "policies": {"xray": {"Version": "2012-10-17", "Statement": [
                {"Sid": "Tracing", "Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"}]}}
            if props["tracing"] == "Active" else {}}))
        props["role"] = Ref(f"iam_roles.{role_name(node.name)}", "arn")
    return out


def role_grants(node) -> list[dict]:
    """The user's grants plus what the function's own settings need, and nothing else."""
    props = node.props
    grants = list(props["grants"]) + [{"log_group": log_group_name(node.name), "access": "write"}]
    send = {"sqs_queue": "send", "sns_topic": "publish", "function": "invoke"}
    for target in send_targets(props):
        field = next(f for f in DESTINATION_FIELDS if f in target)
        grants.append({field: target[field], "access": send[field]})
    for trigger in props["triggers"]:
        if "sqs_queue" in trigger:
            grants.append({"sqs_queue": trigger["sqs_queue"], "access": "consume"})
        else:
            grants.append({"dynamodb_table": trigger["dynamodb_table"], "access": "stream"})
    unique = []
    for grant in grants:
        if grant not in unique:
            unique.append(grant)
    return unique
