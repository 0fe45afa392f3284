"""API Gateway REST APIs: the calls of a create, of each update and of a delete, on fake state."""
import pytest

from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
lambda_functions:
  upload: {code: code, handler: api.upload}
api_gateways:
  files:
    routes:
      "POST /upload": {function: upload}
    stage:
      name: prod
      variables: {mode: live}
      access_logs: {enabled: false}
      method_settings: {throttling: {rate: 100, burst: 200}}
"""
API = "api_gateways.files"
OUTPUTS = {"id": "a1", "arn": "arn:aws:apigateway:us-east-1::/restapis/a1"}
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": API}
URI = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
       "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-upload/invocations")
UPLOAD = {"restApiId": "a1", "resourceId": "r1", "httpMethod": "POST"}
INTEGRATION = ("apigateway:PutIntegration", {**UPLOAD, "type": "AWS_PROXY", "integrationHttpMethod": "POST",
                                             "uri": URI, "timeoutInMillis": 29000})


@pytest.fixture
def state(fake_state, tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "api.py").write_text("def upload(event, context):\n    return {}\n")
    return fake_state(SPEC)


def in_sync(state) -> dict:
    return dict(state.desired(API))


def test_create_makes_the_api_its_route_and_the_stage_with_its_settings(state):
    answers = {"apigateway:CreateRestApi": {"id": "a1"},
               "apigateway:GetResources": {"items": [{"path": "/", "id": "root"}]},
               "apigateway:CreateResource": {"id": "r1", "path": "/upload"},
               "apigateway:CreateDeployment": {"id": "d1"}}
    assert shown(state.creates(API, answers)) == [
        ("apigateway:CreateRestApi", {"name": "shop-dev-files", "description": "",
                                      "endpointConfiguration": {"types": ["REGIONAL"]}, "binaryMediaTypes": [],
                                      "tags": OWNERSHIP}),
        ("apigateway:GetResources", {"restApiId": "a1", "embed": ["methods"]}),
        ("apigateway:CreateResource", {"restApiId": "a1", "parentId": "root", "pathPart": "upload"}),
        ("apigateway:PutMethod", {**UPLOAD, "authorizationType": "NONE", "apiKeyRequired": False}),
        INTEGRATION,
        ("apigateway:CreateDeployment", {"restApiId": "a1", "description": in_sync(state)["deployment"]}),
        ("apigateway:CreateStage", {"restApiId": "a1", "stageName": "prod", "deploymentId": "d1",
                                    "tracingEnabled": True, "variables": {"mode": "live"}, "tags": OWNERSHIP}),
        ("apigateway:UpdateStage", {"restApiId": "a1", "stageName": "prod", "patchOperations": [
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "200"}]})]


def test_a_description_change_is_one_update_rest_api(state):
    actual = {**in_sync(state), "description": "old"}
    assert shown(state.updates(API, actual, OUTPUTS)) == [
        ("apigateway:UpdateRestApi", {"restApiId": "a1", "patchOperations": [
            {"op": "replace", "path": "/description", "value": ""}]})]


def test_stage_drift_is_one_update_stage_with_the_fields_that_differ(state):
    synced = in_sync(state)
    actual = {**synced, "stage": {**synced["stage"], "tracing": False, "variables": {"mode": "test", "old": "x"}},
              "method_settings": {"*/*": {"throttling_rate": 5.0, "throttling_burst": 200}}}
    assert shown(state.updates(API, actual, OUTPUTS)) == [
        ("apigateway:UpdateStage", {"restApiId": "a1", "stageName": "prod", "patchOperations": [
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            {"op": "replace", "path": "/variables/mode", "value": "live"},
            {"op": "remove", "path": "/variables/old"},
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"}]})]


def test_a_route_change_puts_the_method_again_and_redeploys(state):
    synced = in_sync(state)
    route = synced["routes"]["POST /upload"]
    actual = {**synced, "routes": {"POST /upload": {**route, "authorization": "AWS_IAM"}}, "deployment": "before"}
    answers = {"apigateway:GetResources": {"items": [{"path": "/", "id": "root"}, {"path": "/upload", "id": "r1"}]},
               "apigateway:CreateDeployment": {"id": "d2"}}
    assert shown(state.updates(API, actual, OUTPUTS, answers=answers)) == [
        ("apigateway:GetResources", {"restApiId": "a1", "embed": ["methods"]}),
        ("apigateway:DeleteMethod", UPLOAD),
        ("apigateway:PutMethod", {**UPLOAD, "authorizationType": "NONE", "apiKeyRequired": False}),
        INTEGRATION,
        ("apigateway:CreateDeployment", {"restApiId": "a1", "description": synced["deployment"]}),
        ("apigateway:UpdateStage", {"restApiId": "a1", "stageName": "prod", "patchOperations": [
            {"op": "replace", "path": "/deploymentId", "value": "d2"}]})]


def test_tag_drift_is_an_untag_then_a_tag_call(state):
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates(API, actual, OUTPUTS)) == [
        ("apigateway:UntagResource", {"resourceArn": OUTPUTS["arn"], "tagKeys": ["stray"]}),
        ("apigateway:TagResource", {"resourceArn": OUTPUTS["arn"], "tags": {"Project": "shop"}})]


def test_in_sync_makes_no_call(state):
    assert state.updates(API, in_sync(state), OUTPUTS) == []


def test_delete_removes_our_usage_plan_and_its_keys_then_the_api(state):
    plan = {"id": "p1", "name": "shop-dev-files", "apiStages": [{"apiId": "a1", "stage": "prod"}],
            "tags": {"provisioner:resource": API}}
    answers = {"apigateway:GetUsagePlans": {"items": [plan]}, "apigateway:GetUsagePlanKeys": {"items": [{"id": "k1"}]}}
    owned = OwnedResource("api_gateways", API, "a1", OUTPUTS["arn"])
    operations = state.deletes("api_gateways", owned, answers)
    assert shown(operations) == [
        ("apigateway:GetUsagePlans", {}),
        ("apigateway:GetUsagePlanKeys", {"usagePlanId": "p1"}),
        ("apigateway:DeleteUsagePlanKey", {"usagePlanId": "p1", "keyId": "k1"}),
        ("apigateway:DeleteApiKey", {"apiKey": "k1"}),
        ("apigateway:DeleteUsagePlan", {"usagePlanId": "p1"}),
        ("apigateway:DeleteRestApi", {"restApiId": "a1"})]
    assert operations[-1].missing_ok
