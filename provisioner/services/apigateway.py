"""API Gateway REST APIs: routes to Lambda functions (AWS_PROXY), one stage, access logs, method settings.

Routes are written as `"POST /upload": {function: upload}`: the tool builds the resource tree, the
methods and integrations (the invocation URI is built here, never by hand), and each function gets an
invoke permission scoped to `{execution arn}/*/{METHOD}/{path}` through a Delivery. A deployment is
created only when the routes change: its description carries a fingerprint of the routes, compared
on every diff. REST APIs are not in the Resource Groups Tagging API: they are discovered with
GetRestApis and their tags.
"""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.services.apigateway_routes import (
    desired_route,
    fingerprint,
    put_routes,
    read_resources,
    routes_of,
    split_route,
)
from provisioner.services.apigateway_stage import (
    create_stage,
    desired_settings,
    desired_stage,
    read_settings,
    replace,
    stage_props,
    update_stage,
)
from provisioner.services.apigateway_usage_plans import delete_plans_of, desired_plan, put_plan, read_plan
from provisioner.services.base import (
    NOT_RETURNED,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    dropped_by_emulator,
)
from provisioner.services.delivery import Delivery
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref, Template, find_refs

API_PATCHES = {"description": "/description", "minimum_compression_size": "/minimumCompressionSize"}


def access_log_group(api: str) -> str:
    return f"{api}-access-logs"


class ApiGateways(Reconciler):
    kind = "api_gateways"
    service = "apigateway"
    attributes = frozenset({"id", "name", "arn", "execution_arn", "url", "stage"})
    name_rule = NameRule(r"[A-Za-z0-9 ._-]+", 1, 1024, "a REST API name", "letters, digits, space, '.', '_', '-'")
    immutable = frozenset({"endpoint_type"})
    derived_fields = frozenset({"deployment", "method_settings"})
    missing = ("NotFoundException",)
    tag_api = TagApi("apigateway", "resourceArn", list="get_tags", tags_param="tags", keys_param="tagKeys",
                     as_map=True, listed="tags")
    updates = ((frozenset({"description", "minimum_compression_size", "binary_media_types"}), "_update_api"),
               (frozenset({"routes"}), "_update_routes"),
               (frozenset({"routes", "deployment", "stage", "method_settings"}), "_update_stage"),
               (frozenset({"usage_plan"}), "_update_usage_plan"))
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
        return {
            "description": props["description"],
            "endpoint_type": props["endpoint_type"],
            "binary_media_types": sorted(props["binary_media_types"]),
            "minimum_compression_size": props.get("minimum_compression_size"),
            "routes": {route: desired_route(target, ctx) for route, target in sorted(props["routes"].items())},
            "deployment": None,
            "stage": desired_stage(stage),
            "method_settings": desired_settings(stage),
            "usage_plan": desired_plan(props.get("usage_plan")),
        }

    def normalize(self, desired):
        return {**desired, "deployment": fingerprint(desired["routes"])}

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
            "stage": lambda: self.get(ctx, "get_stage", restApiId=api_id, stageName=stage_name),
            "resources": lambda: read_resources(client, api_id),
            "deployments": lambda: {d["id"]: d for page in client.get_paginator("get_deployments").paginate(
                restApiId=api_id, PaginationConfig={"PageSize": 500}) for d in page["items"]},
            "usage_plan": lambda: read_plan(client, node),
        })
        stage = first["stage"]
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
            "routes": routes_of(first["resources"]),
            "deployment": deployment,
            "stage": stage_props(stage, stage_name) if stage else None,
            "method_settings": read_settings(stage, node.props["stage"]) if stage else {},
            "usage_plan": first["usage_plan"],
            "tags": api.get("tags", {}),
        }
        return Observed(props, self._outputs(api_id, node, ctx), props["tags"], warnings)

    # --- write ---
    def create(self, node, desired, ctx):
        tags = self.tag_api.format(desired["tags"])
        request = {"name": node.physical_name, "description": desired["description"],
                   "endpointConfiguration": {"types": [desired["endpoint_type"]]},
                   "binaryMediaTypes": desired["binary_media_types"], "tags": tags}
        if desired["minimum_compression_size"] is not None:
            request["minimumCompressionSize"] = desired["minimum_compression_size"]
        api_id = (yield Call("apigateway", "create_rest_api", request))["id"]
        yield from put_routes(api_id, desired["routes"], {})
        yield from create_stage(api_id, desired, tags)
        if desired["usage_plan"]:
            yield from put_plan(api_id, node, desired, None, tags)
        return self._outputs(api_id, node, ctx)

    def _update_api(self, node, desired, actual, fields, ctx):
        ops = [replace(path, desired[field]) for field, path in API_PATCHES.items() if field in fields]
        have = actual.props["binary_media_types"]
        if "binary_media_types" in fields and have is not NOT_RETURNED:
            wanted = desired["binary_media_types"]
            ops += [{"op": "add", "path": "/binaryMediaTypes/" + media.replace("/", "~1")}
                    for media in sorted(set(wanted) - set(have))]
            ops += [{"op": "remove", "path": "/binaryMediaTypes/" + media.replace("/", "~1")}
                    for media in sorted(set(have) - set(wanted))]
        if ops:
            yield Call("apigateway", "update_rest_api", {"restApiId": actual.outputs["id"], "patchOperations": ops})

    def _update_routes(self, node, desired, actual, fields, ctx):
        yield from put_routes(actual.outputs["id"], desired["routes"], actual.props["routes"])

    def _update_stage(self, node, desired, actual, fields, ctx):
        api_id = actual.outputs["id"]
        if actual.props["stage"] is None:
            yield from create_stage(api_id, desired, self.tag_api.format(desired["tags"]))
        else:
            yield from update_stage(api_id, desired, actual.props, redeploy=bool(fields & {"routes", "deployment"}))

    def _update_usage_plan(self, node, desired, actual, fields, ctx):
        yield from put_plan(actual.outputs["id"], node, desired, actual.props["usage_plan"],
                            self.tag_api.format(desired["tags"]))

    # --- delete / discover ---
    def delete(self, resource, ctx):
        yield from delete_plans_of(resource.physical_id, resource.address)
        # AWS allows one DeleteRestApi per 30 seconds per account: retried (see the retries table)
        yield Call("apigateway", "delete_rest_api", {"restApiId": resource.physical_id}, missing_ok=True)

    def discover(self, ctx):
        client = ctx.client("apigateway")
        return [OwnedResource.from_tags(self.kind, api["tags"], api["id"],
                                        f"arn:{ctx.aws.partition}:apigateway:{ctx.region}::/restapis/{api['id']}")
                for api in self._all_apis(client, ctx) if ctx.owner.owns(api.get("tags", {}))]
