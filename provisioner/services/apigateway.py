"""API Gateway REST APIs: routes to Lambda functions (AWS_PROXY), one stage, access logs, method settings.

Routes are written as `"POST /upload": {function: upload}`: the tool builds the resource tree, the
methods and integrations (the invocation URI is built here, never by hand), and each function gets an
invoke permission scoped to `{execution arn}/*/{METHOD}/{path}` through a Delivery. A deployment is
created only when the routes change: its description carries a fingerprint of the routes, compared
on every diff. REST APIs are not in the Resource Groups Tagging API: they are discovered with
GetRestApis and their tags.
"""
from __future__ import annotations

import hashlib
import json

from provisioner.aws.errors import CALL_ERRORS, is_not_emulated, is_not_found, missing_is_done, unless_missing
from provisioner.aws.retries import eventually
from provisioner.services.base import (
    NOT_RETURNED,
    Delivery,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    dropped_by_emulator,
    retag,
)
from provisioner.spec.refs import Ref, Template, find_refs

NOT_FOUND = ("NotFoundException",)
# AWS allows one DeleteRestApi per 30 seconds per account, and few writes per second overall.
TOO_MANY = ("TooManyRequestsException", "ConflictException")
DEPLOYMENT_PREFIX = "provisioner routes "
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


def access_log_group(api: str) -> str:
    return f"{api}-access-logs"


def split_route(route: str) -> tuple[str, str]:
    method, _, path = route.partition(" ")
    return method, path


def settings_key(route: str) -> str:
    """The methodSettings key of a route ("status/{id}/GET"); "*/*" is every method."""
    method, path = split_route(route)
    return f"{path.strip('/')}/{method}" if path.strip("/") else f"~1/{method}"


def _one_line(mapping: dict) -> str:
    """Access-log formats must be one line; a YAML mapping becomes compact JSON."""
    return json.dumps(mapping, separators=(",", ":"))


def _patch_value(value) -> str:
    """Patch operations take text: true/false, and 100 rather than 100.0."""
    if isinstance(value, bool):
        return str(value).lower()
    return format(value, "g") if isinstance(value, float) else str(value)


def _flat_settings(settings: dict) -> dict:
    throttling, caching = settings.get("throttling", {}), settings.get("caching", {})
    flat = {"throttling_rate": throttling.get("rate"), "throttling_burst": throttling.get("burst"),
            "metrics": settings.get("metrics"), "logging_level": settings.get("logging_level"),
            "data_trace": settings.get("data_trace"), "caching": caching.get("enabled"),
            "cache_ttl_seconds": caching.get("ttl_seconds"), "cache_encrypted": caching.get("encrypted")}
    return {k: float(v) if k == "throttling_rate" else v for k, v in flat.items() if v is not None}


class ApiGateways(Reconciler):
    kind = "api_gateways"
    service = "apigateway"
    attributes = frozenset({"id", "name", "arn", "execution_arn", "url", "stage"})
    name_rule = NameRule(r"[A-Za-z0-9 ._-]+", 1, 1024, "a REST API name", "letters, digits, space, '.', '_', '-'")
    immutable = frozenset({"endpoint_type"})
    derived_fields = frozenset({"deployment", "method_settings"})
    rank = 30
    delete_tier = 2
    opt_outs = ((("stage", "tracing"), False, "no X-Ray traces of the stage (FSBP APIGateway.3)"),
                (("stage", "access_logs", "enabled"), False, "no access logs of the stage (Checkov CKV_AWS_76)"))

    # --- spec time ---
    def companions(self, node, spec):
        logs = node.props["stage"]["access_logs"]
        if not logs["enabled"]:
            return []
        group = access_log_group(node.name)
        logs["log_group"] = Ref(f"log_groups.{group}", "arn")
        return [("log_groups", group, {
            "name": f"/aws/apigateway/{node.physical_name}/{node.props['stage']['name']}",
            **{k: logs[k] for k in ("retention_days", "kms_key") if k in logs}})]

    def dependencies(self, node, spec, referenced):
        """Integrations name functions by their ARN, known before they exist; the functions' invoke
        permissions need this API's id, so the API comes first."""
        from_routes = {ref.address for _, ref in find_refs(node.props["routes"])}
        elsewhere = {ref.address for _, ref in find_refs({k: v for k, v in node.props.items() if k != "routes"})}
        return {a for a in referenced if a not in from_routes or a in elsewhere}

    def validate(self, node, spec):
        out = [(("routes", route, field), f"{field} shapes a non-proxy integration; set proxy: false", "error")
               for route, target in node.props["routes"].items() if target["proxy"]
               for field in ("request_templates", "responses") if target.get(field)]
        stage = node.props["stage"]
        for route in stage["route_settings"]:
            if route not in node.props["routes"]:
                out.append((("stage", "route_settings", route), f"'{route}' is not one of the routes", "error"))
        for route, settings in [("*", stage.get("method_settings", {}))] + list(stage["route_settings"].items()):
            if settings.get("caching", {}).get("enabled") and "cache_cluster_size" not in stage:
                out.append((("stage",), "caching needs a stage cache_cluster_size", "error"))
            if settings.get("data_trace"):
                out.append((("stage",), f"data_trace on {route} logs full request and response bodies", "warning"))
        return out

    def deliveries(self, node, spec):
        out = []
        for route, target in node.props["routes"].items():
            method, path = split_route(route)
            # path parameters match any value in the invocation ARN, so they become *
            scoped = "/".join("*" if part.startswith("{") else part for part in path.strip("/").split("/"))
            source = Template((Ref(node.address, "execution_arn"),
                               f"/*/{'*' if method == 'ANY' else method}/{scoped}"))
            out.append(Delivery(target["function"].address, "apigateway.amazonaws.com", node.address, source,
                                label=f"{method}-{path}"))
        return out

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "stage": node.props["stage"]["name"]}

    def _outputs(self, api_id, node, ctx):
        region, stage = ctx.region, node.props["stage"]["name"]
        return {"id": api_id, "name": node.physical_name, "stage": stage,
                "arn": f"arn:{ctx.aws.partition}:apigateway:{region}::/restapis/{api_id}",
                "execution_arn": ctx.aws.arn("execute-api", api_id),
                "url": f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
                "_physical_id": api_id}

    # --- desired ---
    def desired(self, node, ctx):
        props, stage = node.props, node.props["stage"]
        logs = stage["access_logs"] if stage["access_logs"]["enabled"] else None
        settings = {"*/*": _flat_settings(stage["method_settings"])} if stage.get("method_settings") else {}
        settings.update({settings_key(r): _flat_settings(s) for r, s in stage["route_settings"].items()})
        return {
            "description": props["description"],
            "endpoint_type": props["endpoint_type"],
            "binary_media_types": sorted(props["binary_media_types"]),
            "minimum_compression_size": props.get("minimum_compression_size"),
            "routes": {route: self._route(target, ctx) for route, target in sorted(props["routes"].items())},
            "deployment": None,
            "stage": {"name": stage["name"], "tracing": stage["tracing"], "variables": stage["variables"],
                      "access_log_destination": logs["log_group"] if logs else None,
                      "access_log_format": _one_line(logs["format"]) if logs else None,
                      "cache_cluster_size": stage.get("cache_cluster_size")},
            "method_settings": settings,
            "usage_plan": self._desired_plan(props.get("usage_plan")),
            "tags": ctx.tags_for(node),
        }

    def _route(self, target, ctx) -> dict:
        route = {"authorization": target["authorization"], "api_key_required": target["api_key_required"],
                 "timeout_ms": target["timeout_ms"], "integration_uri": self._integration_uri(target["function"], ctx)}
        if not target["proxy"]:   # only then: a proxy route's shape (and its deployment fingerprint) stays as it was
            responses = target.get("responses") or {"200": {}}
            route.update(proxy=False, request_templates=dict(target["request_templates"]),
                         passthrough_behavior=target["passthrough_behavior"],
                         responses={code: {"selection_pattern": response.get("selection_pattern", ""),
                                           "templates": dict(response.get("templates", {}))}
                                    for code, response in sorted(responses.items())})
        return route

    def _desired_plan(self, plan):
        if plan is None:
            return None
        throttle, quota = plan.get("throttle"), plan.get("quota")
        return {"throttle": {"rate": float(throttle["rate"]), "burst": throttle["burst"]} if throttle else None,
                "quota": dict(quota) if quota else None, "api_keys": sorted(plan["api_keys"])}

    def _integration_uri(self, function: Ref, ctx):
        prefix = f"arn:{ctx.aws.partition}:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/"
        return Template((prefix, Ref(function.address, "arn"), "/invocations"))

    def normalize(self, desired):
        return {**desired, "deployment": self._fingerprint(desired["routes"])}

    def _fingerprint(self, routes: dict) -> str:
        text = json.dumps(routes, sort_keys=True, default=str)
        return DEPLOYMENT_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]

    # --- read ---
    def _find(self, client, node, ctx) -> dict | None:
        """Our API by name; names are not unique in API Gateway, so the ownership tags decide."""
        named = [api for api in self._all_apis(client, ctx) if api["name"] == node.physical_name]
        for api in named:
            tags = api.get("tags", {})
            if tags.get("provisioner:resource") == node.address and ctx.owner.owns(tags):
                return api
        return named[0] if named else None   # a foreign one: the planner refuses to adopt it

    @staticmethod
    def _all_apis(client, ctx) -> list:
        """Every REST API of the region with its tags: one paginated listing per run, for reads and discovery."""
        return ctx.memo("rest_apis", lambda: [api for page in client.get_paginator("get_rest_apis").paginate()
                                              for api in page["items"]])

    def read(self, node, ctx):
        client = ctx.client("apigateway")
        api = self._find(client, node, ctx)
        if api is None:
            return None
        api_id = api["id"]
        warnings: list = []
        stage_name = node.props["stage"]["name"]
        # one round after the lookup: the resources with their methods embedded (no GetMethod per route),
        # and the API's deployments listed rather than the stage's one fetched after GetStage
        first = ctx.concurrently({
            "stage": lambda: self._get_stage(client, api_id, stage_name),
            "resources": lambda: self._resources(client, api_id),
            "deployments": lambda: {d["id"]: d for page in client.get_paginator("get_deployments").paginate(
                restApiId=api_id, PaginationConfig={"PageSize": 500}) for d in page["items"]},
            "usage_plan": lambda: self._read_plan(client, node),
        })
        stage = first["stage"]
        methods = {f"{method} {resource['path']}": found for resource in first["resources"]
                   for method, found in resource.get("resourceMethods", {}).items()}
        deployment = None
        if stage and stage.get("deploymentId"):
            found = first["deployments"].get(stage["deploymentId"]) or client.get_deployment(   # made meanwhile
                restApiId=api_id, deploymentId=stage["deploymentId"])
            deployment = found.get("description", "")
        props = {
            "description": api.get("description", ""),
            "endpoint_type": (api.get("endpointConfiguration", {}).get("types") or ["EDGE"])[0],
            "binary_media_types": dropped_by_emulator(
                sorted(api.get("binaryMediaTypes", [])), node.props["binary_media_types"], ctx, warnings,
                "binary_media_types", "GetRestApi has no binaryMediaTypes"),
            "minimum_compression_size": api.get("minimumCompressionSize"),
            "routes": self._routes(methods),
            "deployment": deployment,
            "stage": self._stage_props(stage, stage_name) if stage else None,
            "method_settings": self._read_settings(stage, node) if stage else {},
            "usage_plan": first["usage_plan"],
            "tags": api.get("tags", {}),
        }
        return Observed(props, self._outputs(api_id, node, ctx), props["tags"], warnings)

    # --- usage plan and API keys: separate resources named after the API, tagged as ours ---
    def _find_plan(self, client, node) -> dict | None:
        for page in client.get_paginator("get_usage_plans").paginate():
            for plan in page["items"]:
                if plan["name"] == node.physical_name and plan.get("tags", {}).get("provisioner:resource") \
                        == node.address:
                    return plan
        return None

    def _read_plan(self, client, node) -> dict | None:
        plan = self._find_plan(client, node)
        if plan is None:
            return None
        keys = []
        for page in client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"]):
            keys.extend(k["name"].removeprefix(node.physical_name + "-") for k in page["items"])
        throttle, quota = plan.get("throttle"), plan.get("quota")
        return {"throttle": {"rate": float(throttle["rateLimit"]), "burst": throttle["burstLimit"]}
                if throttle else None,
                "quota": {"limit": quota["limit"], "period": quota["period"]} if quota else None,
                "api_keys": sorted(keys)}

    def _put_plan(self, client, api_id, node, desired, have):
        """Create, update or remove the usage plan so it matches desired, with exactly its API keys."""
        wanted, plan = desired["usage_plan"], self._find_plan(client, node)
        if wanted is None:
            if plan is not None:
                self._delete_plan(client, plan)
            return
        if plan is None:
            request = {"name": node.physical_name, "tags": desired["tags"],
                       "apiStages": [{"apiId": api_id, "stage": desired["stage"]["name"]}]}
            if wanted["throttle"]:
                request["throttle"] = {"rateLimit": wanted["throttle"]["rate"],
                                       "burstLimit": wanted["throttle"]["burst"]}
            if wanted["quota"]:
                request["quota"] = wanted["quota"]
            plan = client.create_usage_plan(**request)
            have = {"api_keys": [], "throttle": wanted["throttle"], "quota": wanted["quota"]}
        have = have or {"api_keys": [], "throttle": None, "quota": None}
        operations = []
        for field, throttle_key in (("rate", "rateLimit"), ("burst", "burstLimit")):
            if wanted["throttle"] and (have["throttle"] or {}).get(field) != wanted["throttle"][field]:
                operations.append({"op": "replace", "path": f"/throttle/{throttle_key}",
                                   "value": _patch_value(wanted["throttle"][field])})
        if wanted["quota"] and have["quota"] != wanted["quota"]:
            operations += [{"op": "replace", "path": "/quota/limit", "value": str(wanted["quota"]["limit"])},
                           {"op": "replace", "path": "/quota/period", "value": wanted["quota"]["period"]}]
        if operations:
            client.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
        current = {k["name"]: k for page in client.get_paginator("get_usage_plan_keys").paginate(
            usagePlanId=plan["id"]) for k in page["items"]}
        names = {f"{node.physical_name}-{key}" for key in wanted["api_keys"]}
        for name in sorted(set(current) - names):
            client.delete_usage_plan_key(usagePlanId=plan["id"], keyId=current[name]["id"])
            client.delete_api_key(apiKey=current[name]["id"])
        for name in sorted(names - set(current)):
            key = client.create_api_key(name=name, enabled=True, tags=desired["tags"])
            client.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")

    def _delete_plan(self, client, plan):
        for page in client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"]):
            for key in page["items"]:
                client.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
                client.delete_api_key(apiKey=key["id"])
        client.delete_usage_plan(usagePlanId=plan["id"])

    def _get_stage(self, client, api_id, stage_name):
        return unless_missing(client.get_stage, *NOT_FOUND, restApiId=api_id, stageName=stage_name)

    def _resources(self, client, api_id) -> list[dict]:
        items = []
        for page in client.get_paginator("get_resources").paginate(restApiId=api_id, embed=["methods"]):
            items.extend(page["items"])
        return items

    @staticmethod
    def _routes(methods: dict) -> dict:
        """"METHOD /path" -> its managed settings, from the methods GetResources embeds."""
        routes = {}
        for route, found in sorted(methods.items()):
            integration = found.get("methodIntegration", {})
            routes[route] = {
                "authorization": found.get("authorizationType", "NONE"),
                "api_key_required": found.get("apiKeyRequired", False),
                "timeout_ms": integration.get("timeoutInMillis", 29000),
                "integration_uri": integration.get("uri"),
            }
            if integration.get("type") == "AWS":
                routes[route].update(
                    proxy=False, request_templates=integration.get("requestTemplates") or {},
                    passthrough_behavior=integration.get("passthroughBehavior"),
                    responses={code: {"selection_pattern": response.get("selectionPattern", ""),
                                      "templates": response.get("responseTemplates") or {}}
                               for code, response in sorted((integration.get("integrationResponses") or {}).items())})
        return routes

    def _stage_props(self, stage, name) -> dict:
        logs = stage.get("accessLogSettings", {})
        return {"name": name, "tracing": stage.get("tracingEnabled", False), "variables": stage.get("variables", {}),
                "access_log_destination": logs.get("destinationArn"), "access_log_format": logs.get("format"),
                "cache_cluster_size": stage.get("cacheClusterSize") if stage.get("cacheClusterEnabled") else None}

    def _read_settings(self, stage, node) -> dict:
        """The managed fields of the managed entries: AWS fills in every other field with its defaults."""
        wanted = self.desired_settings_fields(node)
        out = {}
        for key, fields in wanted.items():
            found = stage.get("methodSettings", {}).get(key)
            if found is not None:
                out[key] = {f: (float(found[SETTING_PATHS[f][0]]) if f == "throttling_rate"
                                else found.get(SETTING_PATHS[f][0])) for f in fields}
        return out

    def desired_settings_fields(self, node) -> dict:
        stage = node.props["stage"]
        out = {"*/*": set(_flat_settings(stage["method_settings"]))} if stage.get("method_settings") else {}
        out.update({settings_key(r): set(_flat_settings(s)) for r, s in stage["route_settings"].items()})
        return out

    # --- write ---
    def create(self, node, desired, ctx):
        client = ctx.client("apigateway")
        request = {"name": node.physical_name, "description": desired["description"],
                   "endpointConfiguration": {"types": [desired["endpoint_type"]]},
                   "binaryMediaTypes": desired["binary_media_types"], "tags": desired["tags"]}
        if desired["minimum_compression_size"] is not None:
            request["minimumCompressionSize"] = desired["minimum_compression_size"]
        api_id = client.create_rest_api(**request)["id"]
        self._put_routes(client, api_id, desired["routes"], {}, node, ctx)
        self._create_stage(client, api_id, desired)
        if desired["usage_plan"]:
            self._put_plan(client, api_id, node, desired, None)
        return self._outputs(api_id, node, ctx)

    def _create_stage(self, client, api_id, desired):
        """Deployment, stage, then what CreateStage cannot take (access logs, method settings)."""
        deployment = client.create_deployment(restApiId=api_id, description=desired["deployment"])["id"]
        stage = desired["stage"]
        request = {"restApiId": api_id, "stageName": stage["name"], "deploymentId": deployment,
                   "tracingEnabled": stage["tracing"], "variables": stage["variables"], "tags": desired["tags"]}
        if stage["cache_cluster_size"]:
            request.update(cacheClusterEnabled=True, cacheClusterSize=stage["cache_cluster_size"])
        client.create_stage(**request)
        operations = self._stage_operations(desired, None) + self._settings_operations(desired, {})
        if operations:
            client.update_stage(restApiId=api_id, stageName=stage["name"], patchOperations=operations)

    def _put_routes(self, client, api_id, wanted: dict, have: dict, node, ctx):
        """Create or replace the methods whose settings differ, delete the ones no longer wanted, and
        remove resources left with no method and no child."""
        resources = {r["path"]: r for r in self._resources(client, api_id)}
        for route in sorted(set(have) - set(wanted)):
            method, path = split_route(route)
            client.delete_method(restApiId=api_id, resourceId=resources[path]["id"], httpMethod=method)
        for route, settings in wanted.items():
            if have.get(route) == settings:
                continue
            method, path = split_route(route)
            resource_id = self._ensure_resource(client, api_id, path, resources)
            if route in have:
                client.delete_method(restApiId=api_id, resourceId=resource_id, httpMethod=method)
            client.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=method,
                              authorizationType=settings["authorization"],
                              apiKeyRequired=settings["api_key_required"])
            self._put_integration(client, api_id, resource_id, method, settings)
        used = {split_route(route)[1] for route in wanted}
        for path in sorted(resources, key=lambda p: -p.count("/")):
            if path == "/" or any(u == path or u.startswith(path + "/") for u in used):
                continue
            client.delete_resource(restApiId=api_id, resourceId=resources[path]["id"])

    @staticmethod
    def _put_integration(client, api_id, resource_id, method, settings):
        """AWS_PROXY; or AWS with mapping templates, and a method and integration response per status code."""
        where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
        proxy = settings.get("proxy", True)
        templates = {} if proxy else {"requestTemplates": settings["request_templates"],
                                      "passthroughBehavior": settings["passthrough_behavior"]}
        client.put_integration(**where, type="AWS_PROXY" if proxy else "AWS", integrationHttpMethod="POST",
                               uri=settings["integration_uri"], timeoutInMillis=settings["timeout_ms"], **templates)
        for code, response in ({} if proxy else settings["responses"]).items():
            client.put_method_response(**where, statusCode=code)
            client.put_integration_response(**where, statusCode=code, selectionPattern=response["selection_pattern"],
                                            responseTemplates=response["templates"])

    def _ensure_resource(self, client, api_id, path: str, resources: dict) -> str:
        parent = resources["/"]["id"]
        current = ""
        for part in path.strip("/").split("/") if path.strip("/") else []:
            current += "/" + part
            if current not in resources:
                resources[current] = client.create_resource(restApiId=api_id, parentId=parent, pathPart=part)
            parent = resources[current]["id"]
        return parent

    def _stage_operations(self, desired, have_stage) -> list[dict]:
        stage, have = desired["stage"], have_stage or {}
        ops = []
        if have_stage is not None and stage["tracing"] != have.get("tracing"):
            ops.append({"op": "replace", "path": "/tracingEnabled", "value": str(stage["tracing"]).lower()})
        if have_stage is not None:
            for name in sorted(set(stage["variables"]) | set(have.get("variables", {}))):
                if name not in stage["variables"]:
                    ops.append({"op": "remove", "path": f"/variables/{name}"})
                elif have.get("variables", {}).get(name) != stage["variables"][name]:
                    ops.append({"op": "replace", "path": f"/variables/{name}", "value": stage["variables"][name]})
        logs = (stage["access_log_destination"], stage["access_log_format"])
        if logs != (have.get("access_log_destination"), have.get("access_log_format")):
            if stage["access_log_destination"]:
                ops += [{"op": "replace", "path": "/accessLogSettings/destinationArn",
                         "value": stage["access_log_destination"]},
                        {"op": "replace", "path": "/accessLogSettings/format", "value": stage["access_log_format"]}]
            else:
                ops.append({"op": "remove", "path": "/accessLogSettings"})
        if have_stage is not None and stage["cache_cluster_size"] != have.get("cache_cluster_size"):
            enabled = stage["cache_cluster_size"] is not None
            ops.append({"op": "replace", "path": "/cacheClusterEnabled", "value": str(enabled).lower()})
            if enabled:
                ops.append({"op": "replace", "path": "/cacheClusterSize", "value": stage["cache_cluster_size"]})
        return ops

    def _settings_operations(self, desired, have: dict) -> list[dict]:
        ops = []
        for key, fields in desired["method_settings"].items():
            prefix = "/*/*" if key == "*/*" else "/" + key.rsplit("/", 1)[0].replace("/", "~1") + "/" + \
                key.rsplit("/", 1)[1]
            for field, value in fields.items():
                if have.get(key, {}).get(field) != value:
                    ops.append({"op": "replace", "path": f"{prefix}/{SETTING_PATHS[field][1]}",
                                "value": _patch_value(value)})
        return ops

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("apigateway")
        api_id, have = actual.outputs["id"], actual.props
        fields = {d.field for d in diffs}
        api_ops = []
        if "description" in fields:
            api_ops.append({"op": "replace", "path": "/description", "value": desired["description"]})
        if "minimum_compression_size" in fields:
            size = desired["minimum_compression_size"]
            api_ops.append({"op": "replace", "path": "/minimumCompressionSize",
                            "value": "" if size is None else str(size)})
        if "binary_media_types" in fields and have["binary_media_types"] is not NOT_RETURNED:
            for media in sorted(set(desired["binary_media_types"]) - set(have["binary_media_types"])):
                api_ops.append({"op": "add", "path": "/binaryMediaTypes/" + media.replace("/", "~1")})
            for media in sorted(set(have["binary_media_types"]) - set(desired["binary_media_types"])):
                api_ops.append({"op": "remove", "path": "/binaryMediaTypes/" + media.replace("/", "~1")})
        if api_ops:
            client.update_rest_api(restApiId=api_id, patchOperations=api_ops)
        if "routes" in fields:
            self._put_routes(client, api_id, desired["routes"], have["routes"], node, ctx)
        stage = desired["stage"]
        if have["stage"] is None:
            self._create_stage(client, api_id, desired)
        else:
            operations = self._stage_operations(desired, have["stage"]) \
                + self._settings_operations(desired, have["method_settings"])
            if fields & {"routes", "deployment"}:
                deployment = client.create_deployment(restApiId=api_id, description=desired["deployment"])["id"]
                operations.insert(0, {"op": "replace", "path": "/deploymentId", "value": deployment})
            if operations:
                client.update_stage(restApiId=api_id, stageName=stage["name"], patchOperations=operations)
        if "usage_plan" in fields:
            self._put_plan(client, api_id, node, desired, have["usage_plan"])
        if "tags" in fields:
            self._retag(client, desired, have, actual.outputs["arn"], node, ctx)
        return {}

    def _retag(self, client, desired, have, arn, node, ctx):
        try:
            retag(desired["tags"], have["tags"], lambda keys: client.untag_resource(resourceArn=arn, tagKeys=keys),
                  lambda tags: client.tag_resource(resourceArn=arn, tags=tags))
        except CALL_ERRORS as exc:
            if not is_not_emulated(exc) and not is_not_found(exc, "404"):
                raise
            ctx.warn(f"{node.address}: tags: not emulated by this endpoint (TagResource on a REST API); "
                     "not applied")

    # --- delete / discover ---
    def delete(self, resource, ctx):
        client = ctx.client("apigateway")
        # a usage plan on the API's stage would outlive it: remove ours (and their keys) first
        for page in client.get_paginator("get_usage_plans").paginate():
            for plan in page["items"]:
                staged = any(stage["apiId"] == resource.physical_id for stage in plan.get("apiStages", []))
                if staged and plan.get("tags", {}).get("provisioner:resource") == resource.address:
                    self._delete_plan(client, plan)
        with missing_is_done(*NOT_FOUND):
            eventually(TOO_MANY, timeout=300)(client.delete_rest_api)(restApiId=resource.physical_id)

    def discover(self, ctx):
        client = ctx.client("apigateway")
        return [OwnedResource.from_tags(self.kind, api["tags"], api["id"],
                                        f"arn:{ctx.aws.partition}:apigateway:{ctx.region}::/restapis/{api['id']}")
                for api in self._all_apis(client, ctx) if ctx.owner.owns(api.get("tags", {}))]

