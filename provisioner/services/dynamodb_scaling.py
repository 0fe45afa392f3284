"""Auto scaling of a DynamoDB table's and its indexes' provisioned capacity (Application Auto Scaling):
a scalable target and a target-tracking policy per scaled dimension, keyed "table/NAME[/index/I] read"."""
from __future__ import annotations

from provisioner.engine.operations import Call

SCALING_METRICS = {"read": "DynamoDBReadCapacityUtilization", "write": "DynamoDBWriteCapacityUtilization"}


def desired_scaling(name: str, props: dict) -> dict:
    """"table/NAME read" -> {min, max, target}: every auto-scaled dimension of the table and its indexes."""
    owners = [(f"table/{name}", props.get("autoscaling") or {})] + [
        (f"table/{name}/index/{index_name}", index.get("autoscaling") or {})
        for index_name, index in props["global_indexes"].items()]
    return {f"{resource} {direction}": {"min": config["min"], "max": config["max"], "target": float(config["target"])}
            for resource, scaling in owners for direction, config in sorted(scaling.items())}


def dimension(key: str) -> tuple[str, str, str]:
    """"table/t/index/i read" -> (resource id, scalable dimension, direction)."""
    resource, direction = key.rsplit(" ", 1)
    level = "index" if "/index/" in resource else "table"
    units = "ReadCapacityUnits" if direction == "read" else "WriteCapacityUnits"
    return resource, f"dynamodb:{level}:{units}", direction


def _direction(scalable_dimension: str) -> str:
    return "read" if scalable_dimension.endswith("ReadCapacityUnits") else "write"


def _scalable_targets(ctx, resources: list) -> list:
    paginator = ctx.client("application-autoscaling").get_paginator("describe_scalable_targets")
    return [target for page in paginator.paginate(ServiceNamespace="dynamodb", ResourceIds=resources)
            for target in page["ScalableTargets"]]


def read_scaling(ctx, name, spec_props, props) -> dict:
    """Scalable targets and their target-tracking policies. Capacity that auto scaling owns is
    reported as the spec's starting value: auto scaling changing it is not drift."""
    client = ctx.client("application-autoscaling")
    resources = [f"table/{name}"] + [f"table/{name}/index/{i}" for i in props["global_indexes"]]
    found = {f"{target['ResourceId']} {_direction(target['ScalableDimension'])}":
             {"min": target["MinCapacity"], "max": target["MaxCapacity"], "target": None}
             for target in _scalable_targets(ctx, resources)}
    for resource in sorted({key.rsplit(" ", 1)[0] for key in found}):
        for page in client.get_paginator("describe_scaling_policies").paginate(
                ServiceNamespace="dynamodb", ResourceId=resource):
            for policy in page["ScalingPolicies"]:
                tracking = policy.get("TargetTrackingScalingPolicyConfiguration", {})
                key = f"{resource} {_direction(policy['ScalableDimension'])}"
                if key in found:
                    found[key]["target"] = tracking.get("TargetValue")
    for key in found:
        resource, _, direction = dimension(key)
        field = f"{direction}_capacity"
        if resource == f"table/{name}" and (spec_props.get("autoscaling") or {}).get(direction):
            props[field] = spec_props.get(field)
        index_name = resource.rsplit("/", 1)[-1]
        index = spec_props["global_indexes"].get(index_name, {})
        if "/index/" in resource and (index.get("autoscaling") or {}).get(direction) \
                and index_name in props["global_indexes"]:
            props["global_indexes"][index_name][field] = index.get(field)
    return found


def _deregister(resource: str, scalable_dimension: str) -> Call:
    return Call("application-autoscaling", "deregister_scalable_target", {
        "ServiceNamespace": "dynamodb", "ResourceId": resource, "ScalableDimension": scalable_dimension})


def put_scaling(desired, have: dict):
    """Targets and policies from have to desired["autoscaling"]."""
    for key in sorted(set(have) - set(desired["autoscaling"])):
        resource, scalable_dimension, _ = dimension(key)
        yield _deregister(resource, scalable_dimension)
    for key, config in desired["autoscaling"].items():
        if have.get(key) == config:
            continue
        resource, scalable_dimension, direction = dimension(key)
        target = {"ServiceNamespace": "dynamodb", "ResourceId": resource, "ScalableDimension": scalable_dimension}
        yield Call("application-autoscaling", "register_scalable_target",
                   {**target, "MinCapacity": config["min"], "MaxCapacity": config["max"]})
        yield Call("application-autoscaling", "put_scaling_policy", {
            "PolicyName": f"{resource.replace('/', '-')}-{direction}-target-tracking", **target,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": config["target"],
                "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRICS[direction]}}})


def remove_scaling(ctx, table):
    """Scalable targets outlive their table unless deregistered."""
    if table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") != "PROVISIONED":
        return
    name = table["TableName"]
    resources = [f"table/{name}"] + [f"table/{name}/index/{i['IndexName']}"
                                     for i in table.get("GlobalSecondaryIndexes", [])]
    for target in _scalable_targets(ctx, resources):
        yield _deregister(target["ResourceId"], target["ScalableDimension"])
