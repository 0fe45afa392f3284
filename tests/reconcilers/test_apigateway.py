"""API Gateway REST APIs on moto (in-process): routes, integrations, permissions, stage, deployments."""
from __future__ import annotations

import json

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import pending_diffs, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
lambda_functions:
  upload: {code: code, handler: api.upload}
  status: {code: code, handler: api.status}
api_gateways:
  files:
    description: Upload and status
    minimum_compression_size: 1024
    routes:
      "POST /upload": {function: upload}
      "GET /status/{id}": {function: status, authorization: AWS_IAM}
    stage:
      name: prod
      variables: {mode: live}
      access_logs:
        format: {requestId: $context.requestId, ip: $context.identity.sourceIp, status: $context.status}
        retention_days: 30
      method_settings: {throttling: {rate: 1000, burst: 2000}, metrics: true, logging_level: INFO}
      route_settings:
        "POST /upload": {throttling: {rate: 50, burst: 100}}
"""
HANDLERS = "def upload(event, context):\n    return {}\n\n\ndef status(event, context):\n    return {}\n"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-{}"
API = "api_gateways.files"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"api.py": HANDLERS})
    return write_spec(SPEC)


def _api(aws):
    apis = [a for a in aws("apigateway").get_rest_apis()["items"] if a["name"] == "shop-dev-files"]
    assert len(apis) == 1
    return apis[0]["id"]


def _methods(aws, api_id) -> dict:
    client = aws("apigateway")
    out = {}
    for resource in client.get_resources(restApiId=api_id)["items"]:
        for method in resource.get("resourceMethods", {}):
            out[f"{method} {resource['path']}"] = client.get_method(
                restApiId=api_id, resourceId=resource["id"], httpMethod=method)
    return out


def test_quartet_routes_integrations_and_scoped_permissions(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    api_id = _api(aws)
    methods = _methods(aws, api_id)
    assert set(methods) == {"POST /upload", "GET /status/{id}"}
    for route, function in (("POST /upload", "upload"), ("GET /status/{id}", "status")):
        integration = methods[route]["methodIntegration"]
        assert integration["type"] == "AWS_PROXY" and integration["httpMethod"] == "POST"
        assert integration["uri"] == ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                                      f"{FUNCTION_ARN.format(function)}/invocations")
    assert methods["GET /status/{id}"]["authorizationType"] == "AWS_IAM"
    assert methods["POST /upload"]["authorizationType"] == "NONE"

    execution = f"arn:aws:execute-api:us-east-1:123456789012:{api_id}"
    for function, source in (("upload", f"{execution}/*/POST/upload"), ("status", f"{execution}/*/GET/status/*")):
        policy = json.loads(aws("lambda").get_policy(FunctionName=f"shop-dev-{function}")["Policy"])
        statement, = policy["Statement"]
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": source}}


def test_stage_settings_and_one_line_access_log_format(spec_path, engine, aws):
    engine(spec_path).apply()
    stage = aws("apigateway").get_stage(restApiId=_api(aws), stageName="prod")
    assert stage["tracingEnabled"] is True and stage["variables"] == {"mode": "live"}
    logs = stage["accessLogSettings"]
    assert "\n" not in logs["format"]
    assert json.loads(logs["format"]) == {"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
                                          "status": "$context.status"}
    assert logs["destinationArn"] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/shop-dev-files/prod"
    every, upload = stage["methodSettings"]["*/*"], stage["methodSettings"]["upload/POST"]
    assert (every["throttlingRateLimit"], every["throttlingBurstLimit"]) == (1000.0, 2000)
    assert every["metricsEnabled"] is True and every["loggingLevel"] == "INFO"
    assert (upload["throttlingRateLimit"], upload["throttlingBurstLimit"]) == (50.0, 100)
    group = aws("logs").describe_log_groups(logGroupNamePrefix="/aws/apigateway/shop-dev-files")["logGroups"]
    assert [g["retentionInDays"] for g in group] == [30]


def test_unchanged_apply_makes_no_deployment_and_a_route_change_makes_one(spec_path, engine, aws, write_spec):
    e = engine(spec_path)
    e.apply()
    api_id = _api(aws)
    client = aws("apigateway")
    assert len(client.get_deployments(restApiId=api_id)["items"]) == 1
    e.apply()
    assert len(client.get_deployments(restApiId=api_id)["items"]) == 1

    changed = engine(write_spec(SPEC.replace('"GET /status/{id}": {function: status, authorization: AWS_IAM}',
                                             '"GET /status/{id}": {function: status}\n'
                                             '      "DELETE /upload/{key}": {function: upload}')))
    diffs = pending_diffs(changed.plan(), API)
    assert diffs["routes.GET /status/{id}.authorization"] == ("AWS_IAM", "NONE")
    assert "routes.DELETE /upload/{key}" in diffs and "deployment" in diffs
    changed.apply()
    deployments = client.get_deployments(restApiId=api_id)["items"]
    assert len(deployments) == 2
    stage = client.get_stage(restApiId=api_id, stageName="prod")
    assert stage["deploymentId"] != min(deployments, key=lambda d: d["createdDate"])["id"]
    assert set(_methods(aws, api_id)) == {"POST /upload", "GET /status/{id}", "DELETE /upload/{key}"}
    assert not changed.plan().has_changes


def test_removed_route_deletes_its_method_and_empty_resources(spec_path, engine, aws, write_spec):
    engine(spec_path).apply()
    smaller = engine(write_spec(SPEC.replace('      "GET /status/{id}": {function: status, authorization: AWS_IAM}\n',
                                             "")))
    smaller.apply()
    api_id = _api(aws)
    assert set(_methods(aws, api_id)) == {"POST /upload"}
    paths = {r["path"] for r in aws("apigateway").get_resources(restApiId=api_id)["items"]}
    assert paths == {"/", "/upload"}
    assert not smaller.plan().has_changes


@pytest.mark.parametrize("patch, path, before, after", [
    ([{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "10"}],
     "method_settings.*/*.throttling_rate", 10.0, 1000.0),
    ([{"op": "replace", "path": "/upload/POST/throttling/burstLimit", "value": "5"}],
     "method_settings.upload/POST.throttling_burst", 5, 100),
    ([{"op": "replace", "path": "/tracingEnabled", "value": "false"}], "stage.tracing", False, True),
    ([{"op": "replace", "path": "/variables/mode", "value": "test"}], "stage.variables.mode", "test", "live"),
    ([{"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"}],
     "stage.access_log_format", "$context.requestId", None),
])
def test_stage_drift_is_detected_and_repaired(spec_path, engine, aws, patch, path, before, after):
    e = engine(spec_path)
    e.apply()
    aws("apigateway").update_stage(restApiId=_api(aws), stageName="prod", patchOperations=patch)
    diffs = pending_diffs(e.plan(), API)
    assert path in diffs, sorted(diffs)
    assert diffs[path][0] == before
    if after is not None:
        assert diffs[path][1] == after
    e.apply()
    assert not e.plan().has_changes


def test_integration_changed_out_of_band_is_drift_and_redeploys(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    api_id = _api(aws)
    client = aws("apigateway")
    resource = next(r for r in client.get_resources(restApiId=api_id)["items"] if r["path"] == "/upload")
    wrong = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
             f"{FUNCTION_ARN.format('status')}/invocations")
    client.put_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="POST", type="AWS_PROXY",
                           integrationHttpMethod="POST", uri=wrong)
    diffs = pending_diffs(e.plan(), API)
    assert diffs["routes.POST /upload.integration_uri"][0] == wrong
    e.apply()
    assert not e.plan().has_changes


def test_destroy_removes_the_api_and_its_log_group(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    plan, outcomes = e.destroy()
    assert all(o.status == "done" for o in outcomes)
    assert aws("apigateway").get_rest_apis()["items"] == []
    assert aws("logs").describe_log_groups(logGroupNamePrefix="/aws/apigateway/")["logGroups"] == []


def test_foreign_api_with_the_same_name_is_never_adopted(spec_path, engine, aws):
    from provisioner.errors import OwnershipConflict
    aws("apigateway").create_rest_api(name="shop-dev-files", tags={"team": "other"})
    with pytest.raises(OwnershipConflict):
        engine(spec_path).plan()
    assert len(aws("apigateway").get_rest_apis()["items"]) == 1


@pytest.mark.parametrize("change, message", [
    (('"POST /upload": {function: upload}', '"FETCH /upload": {function: upload}'), "does not match"),
    (('"POST /upload": {throttling', '"PUT /upload": {throttling'), "'PUT /upload' is not one of the routes"),
    (("{function: upload}", "{function: uploader}"), "no resource 'uploader' in lambda_functions"),
])
def test_validate_rejects_bad_routes(spec_path, write_spec, change, message):
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(SPEC.replace(*change))), default_registry())
    assert message in str(raised.value), str(raised.value)
