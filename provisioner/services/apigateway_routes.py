"""A REST API's routes: "METHOD /path" -> Lambda integration, as desired, as read back, and written as
resources, methods and integrations. The deployment fingerprint is the hash of the routes."""
from __future__ import annotations

import hashlib
import json

from provisioner.engine.operations import Call
from provisioner.services.base import listed
from provisioner.spec.refs import Ref, Template

DEPLOYMENT_PREFIX = "provisioner routes "


def split_route(route: str) -> tuple[str, str]:
    method, _, path = route.partition(" ")
    return method, path


def every(method: str, **params):
    """yield from: every item of an API Gateway listing, each page a call."""
    return listed(Call("apigateway", method, params), lambda page: page["items"],
                  lambda page: page.get("position"), "position")


# --- desired ---
def integration_uri(function: Ref, ctx):
    prefix = f"arn:{ctx.aws.partition}:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/"
    return Template((prefix, Ref(function.address, "arn"), "/invocations"))


def desired_route(target, ctx) -> dict:
    route = {"authorization": target["authorization"], "api_key_required": target["api_key_required"],
             "timeout_ms": target["timeout_ms"], "integration_uri": integration_uri(target["function"], ctx)}
    if not target["proxy"]:   # only then: a proxy route's shape (and its deployment fingerprint) stays as it was
        responses = target.get("responses") or {"200": {}}
        route.update(proxy=False, request_templates=dict(target["request_templates"]),
                     passthrough_behavior=target["passthrough_behavior"],
                     responses={code: {"selection_pattern": response.get("selection_pattern", ""),
                                       "templates": dict(response.get("templates", {}))}
                                for code, response in sorted(responses.items())})
    return route


def fingerprint(routes: dict) -> str:
    text = json.dumps(routes, sort_keys=True, default=str)
    return DEPLOYMENT_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]


# --- read ---
def read_resources(client, api_id) -> list[dict]:
    """The API's resources with their methods embedded (no GetMethod per route)."""
    return [item for page in client.get_paginator("get_resources").paginate(restApiId=api_id, embed=["methods"])
            for item in page["items"]]


def routes_of(resources: list[dict]) -> dict:
    """"METHOD /path" -> its managed settings, from the methods GetResources embeds."""
    methods = {f"{method} {resource['path']}": found for resource in resources
               for method, found in resource.get("resourceMethods", {}).items()}
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


# --- write ---
def put_routes(api_id, wanted: dict, have: dict):
    """Create or replace the methods whose settings differ, delete the ones no longer wanted, and
    remove resources left with no method and no child."""
    resources = {r["path"]: r for r in (yield from every("get_resources", restApiId=api_id, embed=["methods"]))}
    for route in sorted(set(have) - set(wanted)):
        method, path = split_route(route)
        yield Call("apigateway", "delete_method",
                   {"restApiId": api_id, "resourceId": resources[path]["id"], "httpMethod": method}, route)
    for route, settings in wanted.items():
        if have.get(route) == settings:
            continue
        method, path = split_route(route)
        resource_id = yield from ensure_resource(api_id, path, resources)
        where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
        if route in have:
            yield Call("apigateway", "delete_method", where, route)
        yield Call("apigateway", "put_method", {**where, "authorizationType": settings["authorization"],
                                                "apiKeyRequired": settings["api_key_required"]}, route)
        yield from put_integration(where, settings)
    used = {split_route(route)[1] for route in wanted}
    for path in sorted(resources, key=lambda p: -p.count("/")):
        if path == "/" or any(u == path or u.startswith(path + "/") for u in used):
            continue
        yield Call("apigateway", "delete_resource", {"restApiId": api_id, "resourceId": resources[path]["id"]},
                   path)


def put_integration(where: dict, settings: dict):
    """AWS_PROXY; or AWS with mapping templates, and a method and integration response per status code."""
    proxy = settings.get("proxy", True)
    templates = {} if proxy else {"requestTemplates": settings["request_templates"],
                                  "passthroughBehavior": settings["passthrough_behavior"]}
    yield Call("apigateway", "put_integration", {
        **where, "type": "AWS_PROXY" if proxy else "AWS", "integrationHttpMethod": "POST",
        "uri": settings["integration_uri"], "timeoutInMillis": settings["timeout_ms"], **templates})
    for code, response in ({} if proxy else settings["responses"]).items():
        yield Call("apigateway", "put_method_response", {**where, "statusCode": code})
        yield Call("apigateway", "put_integration_response", {
            **where, "statusCode": code, "selectionPattern": response["selection_pattern"],
            "responseTemplates": response["templates"]})


def ensure_resource(api_id, path: str, resources: dict):
    """yield from: the id of the resource at path, creating the missing ones on the way."""
    parent = resources["/"]["id"]
    current = ""
    for part in path.strip("/").split("/") if path.strip("/") else []:
        current += "/" + part
        if current not in resources:
            resources[current] = yield Call("apigateway", "create_resource",
                                            {"restApiId": api_id, "parentId": parent, "pathPart": part})
        parent = resources[current]["id"]
    return parent
