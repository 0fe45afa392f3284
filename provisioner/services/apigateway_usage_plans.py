"""A REST API's usage plan and API keys: separate resources named after the API and tagged as ours."""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.engine.ownership import OWNER_RESOURCE
from provisioner.services.apigateway_routes import every
from provisioner.services.apigateway_stage import replace
from provisioner.services.base import changed_leaves

PLAN_PATCHES = {   # our field path -> UpdateUsagePlan patch path
    "throttle.rate": "/throttle/rateLimit",
    "throttle.burst": "/throttle/burstLimit",
    "quota.limit": "/quota/limit",
    "quota.period": "/quota/period",
}


def desired_plan(plan):
    if plan is None:
        return None
    throttle, quota = plan.get("throttle"), plan.get("quota")
    return {"throttle": {"rate": float(throttle["rate"]), "burst": throttle["burst"]} if throttle else None,
            "quota": dict(quota) if quota else None, "api_keys": sorted(plan["api_keys"])}


def key_name(node, key: str) -> str:
    return f"{node.physical_name}-{key}"


def ours(plans, node) -> dict | None:
    return next((plan for plan in plans if plan["name"] == node.physical_name
                 and plan.get("tags", {}).get(OWNER_RESOURCE) == node.address), None)


# --- read ---
def read_plan(client, node) -> dict | None:
    plan = ours((plan for page in client.get_paginator("get_usage_plans").paginate() for plan in page["items"]),
                node)
    if plan is None:
        return None
    keys = [key["name"].removeprefix(key_name(node, "")) for page in
            client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"]) for key in page["items"]]
    throttle, quota = plan.get("throttle"), plan.get("quota")
    return {"throttle": {"rate": float(throttle["rateLimit"]), "burst": throttle["burstLimit"]}
            if throttle else None,
            "quota": {"limit": quota["limit"], "period": quota["period"]} if quota else None,
            "api_keys": sorted(keys)}


# --- write ---
def put_plan(api_id, node, desired, have, tags):
    """Create, update or remove the usage plan so it matches desired, with exactly its API keys."""
    wanted, plan = desired["usage_plan"], ours((yield from every("get_usage_plans")), node)
    if wanted is None:
        if plan is not None:
            yield from delete_plan(plan)
        return
    if plan is None:
        request = {"name": node.physical_name, "tags": tags,
                   "apiStages": [{"apiId": api_id, "stage": desired["stage"]["name"]}]}
        if wanted["throttle"]:
            request["throttle"] = {"rateLimit": wanted["throttle"]["rate"], "burstLimit": wanted["throttle"]["burst"]}
        if wanted["quota"]:
            request["quota"] = wanted["quota"]
        plan = yield Call("apigateway", "create_usage_plan", request)
        have = {"api_keys": [], "throttle": wanted["throttle"], "quota": wanted["quota"]}
    have = have or {"api_keys": [], "throttle": None, "quota": None}
    limits = ("throttle", "quota")
    ops = [replace(PLAN_PATCHES[path], value) for path, value in changed_leaves(
        {k: wanted[k] for k in limits}, {k: have[k] for k in limits}).items() if path in PLAN_PATCHES]
    if ops:
        yield Call("apigateway", "update_usage_plan", {"usagePlanId": plan["id"], "patchOperations": ops})
    current = {key["name"]: key for key in (yield from every("get_usage_plan_keys", usagePlanId=plan["id"]))}
    names = {key_name(node, key) for key in wanted["api_keys"]}
    for name in sorted(set(current) - names):
        yield from delete_key(plan, current[name])
    for name in sorted(names - set(current)):
        key = yield Call("apigateway", "create_api_key", {"name": name, "enabled": True, "tags": tags})
        yield Call("apigateway", "create_usage_plan_key",
                   {"usagePlanId": plan["id"], "keyId": key["id"], "keyType": "API_KEY"})


def delete_key(plan, key):
    yield Call("apigateway", "delete_usage_plan_key", {"usagePlanId": plan["id"], "keyId": key["id"]})
    yield Call("apigateway", "delete_api_key", {"apiKey": key["id"]})


def delete_plan(plan):
    for key in (yield from every("get_usage_plan_keys", usagePlanId=plan["id"])):
        yield from delete_key(plan, key)
    yield Call("apigateway", "delete_usage_plan", {"usagePlanId": plan["id"]})


def delete_plans_of(api_id, address):
    """A usage plan on the API's stage would outlive it: ours (and their keys) go first."""
    for plan in (yield from every("get_usage_plans")):
        staged = any(stage["apiId"] == api_id for stage in plan.get("apiStages", []))
        if staged and plan.get("tags", {}).get(OWNER_RESOURCE) == address:
            yield from delete_plan(plan)
