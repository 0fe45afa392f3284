"""How a function is invoked: the invoke permissions of the services delivering to it (statements of its
one resource policy), and its asynchronous invocation settings (retries, event age, destinations)."""
from __future__ import annotations

import json
import re

from provisioner.engine.operations import Call


def permission_sid(delivery) -> str:
    """Statement ids allow letters, digits, '-' and '_' only."""
    text = "-".join(filter(None, ["provisioner", delivery.source, delivery.label]))
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:100]


def desired_permissions(node, ctx) -> list[dict]:
    return [{"sid": permission_sid(d), "principal": d.service, "source_arn": d.source_arn,
             "source_account": ctx.account_id if d.service == "s3.amazonaws.com" else None}
            for d in ctx.deliveries_to(node.address)]


def permissions_by_sid(desired_list: list) -> dict:
    """The desired permissions in read_permissions' shape."""
    return {p["sid"]: {k: v for k, v in p.items() if k != "sid"} for p in desired_list}


def read_permissions(get, ctx, name) -> dict:
    found = get(ctx, "get_policy", FunctionName=name)
    if found is None:
        return {}
    out = {}
    for statement in json.loads(found["Policy"]).get("Statement", []):
        principal = statement.get("Principal", {})
        condition = statement.get("Condition", {})
        out[statement.get("Sid", "")] = {
            "principal": principal.get("Service") if isinstance(principal, dict) else principal,
            "source_arn": condition.get("ArnLike", {}).get("AWS:SourceArn"),
            "source_account": condition.get("StringEquals", {}).get("AWS:SourceAccount"),
        }
    return out


def add_permission(name, sid, permission) -> Call:
    request = {"FunctionName": name, "StatementId": sid, "Action": "lambda:InvokeFunction",
               "Principal": permission["principal"], "SourceArn": permission["source_arn"]}
    if permission["source_account"]:
        request["SourceAccount"] = permission["source_account"]
    return Call("lambda", "add_permission", request, f"let {permission['principal']} invoke")


def remove_permission(name, sid) -> Call:
    return Call("lambda", "remove_permission", {"FunctionName": name, "StatementId": sid}, f"remove {sid}")


def add_permissions(name, permissions: dict):
    """One after the other: each rewrites the function's one resource policy."""
    for sid, permission in permissions.items():
        yield add_permission(name, sid, permission)


def update_permissions(name, desired: dict, have: dict):
    for sid in sorted(set(have) - set(desired)):
        yield remove_permission(name, sid)
    for sid, permission in desired.items():
        if have.get(sid) != permission:
            if sid in have:
                yield remove_permission(name, sid)
            yield add_permission(name, sid, permission)


def read_async(get, ctx, name) -> dict | None:
    found = get(ctx, "get_function_event_invoke_config", FunctionName=name)
    if found is None:
        return None
    destinations = found.get("DestinationConfig", {})
    return {"max_retries": found.get("MaximumRetryAttempts", 2),
            "max_event_age_seconds": found.get("MaximumEventAgeInSeconds", 21600),
            "on_failure": destinations.get("OnFailure", {}).get("Destination"),
            "on_success": destinations.get("OnSuccess", {}).get("Destination")}


def put_async(name, config) -> Call:
    destinations = {}
    for key, field in (("OnFailure", "on_failure"), ("OnSuccess", "on_success")):
        if config[field]:
            destinations[key] = {"Destination": config[field]}
    return Call("lambda", "put_function_event_invoke_config",
                {"FunctionName": name, "MaximumRetryAttempts": config["max_retries"],
                 "MaximumEventAgeInSeconds": config["max_event_age_seconds"], "DestinationConfig": destinations},
                "asynchronous invocation settings")
