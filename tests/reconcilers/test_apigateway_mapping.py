"""Non-proxy REST API routes on moto: request mapping templates, passthrough behaviour, method and integration
responses per status code; read back, compared, redeployed on change, drift caught."""
from __future__ import annotations

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import assert_repaired, only_change, pending_diffs, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
lambda_functions:
  orders: {code: code, handler: api.handler}
api_gateways:
  shop:
    routes:
      "GET /orders/{id}": {function: orders}
      "POST /orders":
        function: orders
        proxy: false
        request_templates:
          application/json: '{"body": $input.json("$"), "user": "$context.identity.sourceIp"}'
        passthrough_behavior: NEVER
        responses:
          "200": {templates: {application/json: '$input.json("$.order")'}}
          "400": {selection_pattern: '.*\\[BadRequest\\].*', templates: {application/json: '{"error": "bad request"}'}}
    stage: {name: prod}
"""
API = "api_gateways.shop"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"api.py": "def handler(event, context):\n    return {}\n"})
    return write_spec(SPEC)


def _post_orders(aws) -> tuple[str, str, dict]:
    client = aws("apigateway")
    api_id = next(a["id"] for a in client.get_rest_apis()["items"] if a["name"] == "shop-dev-shop")
    resource = next(r for r in client.get_resources(restApiId=api_id)["items"] if r["path"] == "/orders")
    return api_id, resource["id"], client.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")


def test_templates_and_responses_are_deployed(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    _, _, method = _post_orders(aws)
    integration = method["methodIntegration"]
    assert integration["type"] == "AWS" and integration["passthroughBehavior"] == "NEVER"
    assert integration["requestTemplates"]["application/json"].startswith('{"body": $input.json("$")')
    assert set(method["methodResponses"]) == {"200", "400"}
    assert integration["integrationResponses"]["400"]["selectionPattern"] == ".*\\[BadRequest\\].*"
    assert integration["integrationResponses"]["200"]["responseTemplates"] == {
        "application/json": '$input.json("$.order")'}


def test_a_response_template_changed_by_hand_is_drift_and_repaired(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    api_id, resource_id, _ = _post_orders(aws)
    aws("apigateway").put_integration_response(restApiId=api_id, resourceId=resource_id, httpMethod="POST",
                                               statusCode="200", selectionPattern="",
                                               responseTemplates={"application/json": "{}"})
    diffs = pending_diffs(e.plan(), API)
    assert diffs["routes.POST /orders.responses.200.templates.application/json"] == ("{}", '$input.json("$.order")')
    assert_repaired(e)


def test_a_changed_response_template_redeploys(spec_path, engine, write_spec, aws):
    e = engine(spec_path)
    e.apply()
    write_spec(SPEC.replace('$input.json("$.order")', '$input.json("$")'))
    change = only_change(e.plan(), API)
    assert {"routes", "deployment"} <= {d.field for d in change.diffs}
    e.apply()
    assert not e.plan().has_changes


def test_templates_on_a_proxy_route_are_rejected(write_spec, spec_path):
    text = SPEC.replace('"GET /orders/{id}": {function: orders}',
                        '"GET /orders/{id}": {function: orders, request_templates: {application/json: "{}"}}')
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(text)), default_registry())
    assert "request_templates shapes a non-proxy integration; set proxy: false" in str(raised.value)
