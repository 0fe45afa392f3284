"""Policy linting in `validate`: wildcard rules of our own, then parliament for everything it knows
(misspelled actions, unknown services, actions on the wrong resource type)."""
from __future__ import annotations

import functools
import hashlib
import json

from provisioner.spec.refs import Ref, Template

# Actions that only support Resource "*": a wildcard resource is their least privilege.
STAR_ONLY_ACTIONS = frozenset(a.lower() for a in (
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries", "cloudwatch:PutMetricData", "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics", "logs:DescribeLogGroups", "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses", "sqs:ListQueues", "sns:ListTopics", "dynamodb:ListTables",
    "dynamodb:ListStreams", "s3:ListAllMyBuckets", "kms:ListKeys", "kms:ListAliases", "lambda:ListFunctions",
    "states:ListStateMachines", "secretsmanager:ListSecrets", "secretsmanager:GetRandomPassword",
    "sts:GetCallerIdentity", "iam:ListRoles", "apigateway:GET", "events:PutPartnerEvents",
    # CloudWatch Logs vended-log delivery, as Step Functions logging needs it
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
))
PARLIAMENT_ERRORS = frozenset({
    "UNKNOWN_ACTION", "UNKNOWN_PREFIX", "RESOURCE_MISMATCH", "MALFORMED", "MALFORMED_JSON",
    "UNKNOWN_PRINCIPAL", "UNKNOWN_FEDERATION_SOURCE", "UNKNOWN_OPERATOR", "INVALID_ARN",
})
EXAMPLE_ACCOUNT = "123456789012"


def _strings(value) -> list:
    return value if isinstance(value, list) else [value]


def lint_statements(document: dict, resource_policy: bool = False, key_policy: bool = False) -> list:
    """(path relative to the document, message, severity) for our wildcard rules."""
    out = []
    for index, statement in enumerate(document.get("Statement", [])):
        path = ("Statement", index)
        if statement.get("Effect") != "Allow" or statement.get("allow_wildcard"):
            continue
        name = f"statement {statement.get('Sid') or index}"
        actions = [str(a) for a in _strings(statement.get("Action", []))]
        root_delegation = key_policy and _is_account_root(statement.get("Principal"))
        for action in actions:
            if root_delegation and action == "kms:*":
                continue   # AWS's default key policy: the account root delegates the key to IAM
            if "*" in action or "?" in action:
                out.append((path + ("Action",), f"{name} allows '{action}', a pattern of actions (and of the ones "
                                                "AWS adds later): list the actions it needs, or add "
                                                "allow_wildcard: <reason>", "error"))
        if "NotAction" in statement:
            out.append((path + ("NotAction",), f"{name}: Allow with NotAction grants every other action; list the "
                                               "actions instead, or add allow_wildcard: <reason>", "error"))
        if "NotResource" in statement:
            out.append((path + ("NotResource",), f"{name}: Allow with NotResource grants every other resource; "
                                                 "list the resources, or add allow_wildcard: <reason>", "error"))
        resources = [r for r in _strings(statement.get("Resource", [])) if isinstance(r, str)]
        if "*" in resources and not resource_policy:   # in a resource policy "*" is the resource itself
            wide = sorted(a for a in actions if a.lower() not in STAR_ONLY_ACTIONS)
            if wide:
                out.append((path + ("Resource",), f"{name} applies {', '.join(wide)} to Resource '*': name the "
                                                  "resources (e.g. ${kind.name.arn}), or add allow_wildcard: <reason>",
                            "error"))
        if resource_policy and not key_policy:
            principal = statement.get("Principal")
            if principal == "*" or (isinstance(principal, dict) and "*" in _strings(principal.get("AWS", []))):
                if not statement.get("Condition"):
                    out.append((path + ("Principal",), f"{name} allows anyone (Principal '*') without a "
                                                       "Condition: the resource becomes public", "warning"))
    return out


def _is_account_root(principal) -> bool:
    if not isinstance(principal, dict):
        return False
    return all(str(p).isdigit() or str(p).endswith(":root") for p in _strings(principal.get("AWS", ["*"])))


def example_value(ref: Ref, spec, registry) -> str:
    """A well-formed stand-in for a reference, so parliament can check resource types offline."""
    from provisioner.aws.session import offline_context
    node = spec.nodes.get(ref.address)
    if node is not None and node.kind in registry:
        outputs = registry[node.kind].predicted_outputs(node, offline_context(spec))
        if ref.attr in outputs:
            return str(outputs[ref.attr]).replace("{account_id}", EXAMPLE_ACCOUNT)
    if ref.kind == "kms_keys":
        return f"arn:aws:kms:{spec.region}:{EXAMPLE_ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    if ref.kind == "secrets":   # the ARN ends in six random characters
        name = node.physical_name if node is not None else ref.address
        return f"arn:aws:secretsmanager:{spec.region}:{EXAMPLE_ACCOUNT}:secret:{name}-AbCdEf"
    return f"arn:aws:{ref.kind.split('_')[0]}:{spec.region}:{EXAMPLE_ACCOUNT}:{ref.address}"


def _offline(value, spec, registry):
    if isinstance(value, Ref):
        return example_value(value, spec, registry)
    if isinstance(value, Template):
        return "".join(example_value(p, spec, registry) if isinstance(p, Ref) else p for p in value.parts)
    if isinstance(value, dict):
        return {k: _offline(v, spec, registry) for k, v in value.items() if k != "allow_wildcard"}
    if isinstance(value, list):
        return [_offline(v, spec, registry) for v in value]
    return value


def parliament_findings(document: dict, spec, registry) -> list:
    """(path, message, severity) of parliament's hard errors, statements located by index."""
    concrete = _offline({"Version": "2012-10-17", **document}, spec, registry)
    out = []
    for index, statement in enumerate(concrete.get("Statement", [])):
        single = json.dumps({"Version": concrete["Version"], "Statement": [statement]}, sort_keys=True)
        for issue, detail in _parliament_issues(single):
            out.append((("Statement", index), f"statement {statement.get('Sid') or index}: {issue}: {detail}",
                        "error"))
    return out


@functools.cache
def _parliament_version() -> str:
    from importlib.metadata import version
    return version("parliament")   # reads the package's metadata from disk: once per process


def _parliament_issues(policy: str) -> list:
    """Parliament's hard errors for one policy text, kept on disk by content: importing parliament and its
    IAM definitions costs a third of a second, and the same statements are linted on every run."""
    from provisioner.cache import cache_root, write_whole

    key = hashlib.sha256(f"{_parliament_version()}\n{policy}".encode()).hexdigest()
    cached = cache_root() / "lint" / f"{key}.json"
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    from parliament import analyze_policy_string

    issues = [[f.issue, _detail(f.detail)] for f in analyze_policy_string(policy).findings
              if f.issue in PARLIAMENT_ERRORS]
    write_whole(cached, json.dumps(issues).encode())   # unwritable: the next run takes the same third of a second
    return issues


def _detail(detail) -> str:
    if isinstance(detail, list):
        return "; ".join(_detail(d) for d in detail)
    if isinstance(detail, dict):
        if "action" in detail and "required_format" in detail:
            return f"{detail['action']} needs a resource like {detail['required_format']}"
        return ", ".join(f"{k}={v}" for k, v in detail.items())
    return str(detail)


def lint_policy(document: dict, spec, registry, resource_policy=False, key_policy=False) -> list:
    return lint_statements(document, resource_policy, key_policy) + parliament_findings(document, spec, registry)
