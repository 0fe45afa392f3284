"""A REST API's one stage: tracing, variables, access logs, cache cluster and method settings, as desired,
as read back, and written as UpdateStage patch operations from the engine's diff of the two."""
from __future__ import annotations

import json

from provisioner.engine.operations import Call
from provisioner.services.base import changed_leaves

SETTING_PATHS = {   # our method-setting field -> (AWS methodSettings key, patch path suffix)
    "throttling_rate": ("throttlingRateLimit", "throttling/rateLimit"),
    "throttling_burst": ("throttlingBurstLimit", "throttling/burstLimit"),
    "metrics": ("metricsEnabled", "metrics/enabled"),
    "logging_level": ("loggingLevel", "logging/loglevel"),
    "data_trace": ("dataTraceEnabled", "logging/dataTrace"),
    "caching": ("cachingEnabled", "caching/enabled"),
    "cache_ttl_seconds": ("cacheTtlInSeconds", "caching/ttlInSeconds"),
    "cache_encrypted": ("cacheDataEncrypted", "caching/dataEncrypted"),
}
ACCESS_LOGS = ("access_log_destination", "access_log_format")


def patch_value(value) -> str:
    """Patch operations take text: true/false, and 100 rather than 100.0; nothing is ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return format(value, "g") if isinstance(value, float) else str(value)


def replace(path: str, value) -> dict:
    return {"op": "replace", "path": path, "value": patch_value(value)}


def settings_key(route: str) -> str:
    """The methodSettings key of a route ("status/{id}/GET"); "*/*" is every method."""
    method, _, path = route.partition(" ")
    return f"{path.strip('/')}/{method}" if path.strip("/") else f"~1/{method}"


def one_line(mapping: dict) -> str:
    """Access-log formats must be one line; a YAML mapping becomes compact JSON."""
    return json.dumps(mapping, separators=(",", ":"))


def flat_settings(settings: dict) -> dict:
    throttling, caching = settings.get("throttling", {}), settings.get("caching", {})
    flat = {"throttling_rate": throttling.get("rate"), "throttling_burst": throttling.get("burst"),
            "metrics": settings.get("metrics"), "logging_level": settings.get("logging_level"),
            "data_trace": settings.get("data_trace"), "caching": caching.get("enabled"),
            "cache_ttl_seconds": caching.get("ttl_seconds"), "cache_encrypted": caching.get("encrypted")}
    return {k: float(v) if k == "throttling_rate" else v for k, v in flat.items() if v is not None}


# --- desired ---
def desired_stage(stage: dict) -> dict:
    logs = stage["access_logs"] if stage["access_logs"]["enabled"] else None
    return {"name": stage["name"], "tracing": stage["tracing"], "variables": stage["variables"],
            "access_log_destination": logs["log_group"] if logs else None,
            "access_log_format": one_line(logs["format"]) if logs else None,
            "cache_cluster_size": stage.get("cache_cluster_size")}


def desired_settings(stage: dict) -> dict:
    """methodSettings key -> our fields: the stage's defaults ("*/*") and each route's own."""
    settings = {"*/*": flat_settings(stage["method_settings"])} if stage.get("method_settings") else {}
    settings.update({settings_key(r): flat_settings(s) for r, s in stage["route_settings"].items()})
    return settings


# --- read ---
def stage_props(stage: dict, name: str) -> dict:
    logs = stage.get("accessLogSettings", {})
    return {"name": name, "tracing": stage.get("tracingEnabled", False), "variables": stage.get("variables", {}),
            "access_log_destination": logs.get("destinationArn"), "access_log_format": logs.get("format"),
            "cache_cluster_size": stage.get("cacheClusterSize") if stage.get("cacheClusterEnabled") else None}


def read_settings(stage: dict, stage_spec: dict) -> dict:
    """The managed fields of the managed entries: AWS fills in every other field with its defaults."""
    out = {}
    for key, fields in desired_settings(stage_spec).items():
        found = stage.get("methodSettings", {}).get(key)
        if found is not None:
            out[key] = {f: (float(found[SETTING_PATHS[f][0]]) if f == "throttling_rate"
                            else found.get(SETTING_PATHS[f][0])) for f in fields}
    return out


# --- write ---
def stage_patch(wanted: dict, have: dict) -> list[dict]:
    """UpdateStage operations taking the stage from have to wanted."""
    changed = changed_leaves(wanted, have)
    ops = []
    if "tracing" in changed:
        ops.append(replace("/tracingEnabled", wanted["tracing"]))
    for path in sorted(p for p in changed if p.startswith("variables.")):
        name = path.split(".", 1)[1]
        ops.append(replace(f"/variables/{name}", wanted["variables"][name]) if name in wanted["variables"]
                   else {"op": "remove", "path": f"/variables/{name}"})
    if changed.keys() & set(ACCESS_LOGS):
        if wanted["access_log_destination"]:
            ops += [replace("/accessLogSettings/destinationArn", wanted["access_log_destination"]),
                    replace("/accessLogSettings/format", wanted["access_log_format"])]
        else:
            ops.append({"op": "remove", "path": "/accessLogSettings"})
    if "cache_cluster_size" in changed:
        enabled = wanted["cache_cluster_size"] is not None
        ops.append(replace("/cacheClusterEnabled", enabled))
        if enabled:
            ops.append(replace("/cacheClusterSize", wanted["cache_cluster_size"]))
    return ops


def settings_patch(wanted: dict, have: dict) -> list[dict]:
    """UpdateStage operations for the method settings whose managed fields differ."""
    ops = []
    for path, value in changed_leaves(wanted, have).items():
        key, field = path.rsplit(".", 1)
        resource, method = key.rsplit("/", 1)
        prefix = "/*/*" if key == "*/*" else f"/{resource.replace('/', '~1')}/{method}"
        ops.append(replace(f"{prefix}/{SETTING_PATHS[field][1]}", value))
    return ops


def deploy(api_id, desired: dict):
    """yield from: the id of a new deployment of the routes, described by their fingerprint."""
    return (yield Call("apigateway", "create_deployment",
                       {"restApiId": api_id, "description": desired["deployment"]}))["id"]


def create_stage(api_id, desired: dict, tags):
    """Deployment, stage, then what CreateStage cannot take (access logs, method settings)."""
    deployment = yield from deploy(api_id, desired)
    stage = desired["stage"]
    request = {"restApiId": api_id, "stageName": stage["name"], "deploymentId": deployment,
               "tracingEnabled": stage["tracing"], "variables": stage["variables"], "tags": tags}
    if stage["cache_cluster_size"]:
        request.update(cacheClusterEnabled=True, cacheClusterSize=stage["cache_cluster_size"])
    yield Call("apigateway", "create_stage", request)
    as_created = {**stage, **dict.fromkeys(ACCESS_LOGS)}
    ops = stage_patch(stage, as_created) + settings_patch(desired["method_settings"], {})
    if ops:
        yield Call("apigateway", "update_stage", {"restApiId": api_id, "stageName": stage["name"],
                                                  "patchOperations": ops}, "access logs and method settings")


def update_stage(api_id, desired: dict, have: dict, redeploy: bool):
    """The stage brought to desired; with a new deployment of the routes when redeploy."""
    stage = desired["stage"]
    ops = stage_patch(stage, have["stage"]) + settings_patch(desired["method_settings"], have["method_settings"])
    if redeploy:
        ops.insert(0, replace("/deploymentId", (yield from deploy(api_id, desired))))
    if ops:
        yield Call("apigateway", "update_stage", {"restApiId": api_id, "stageName": stage["name"],
                                                  "patchOperations": ops})
