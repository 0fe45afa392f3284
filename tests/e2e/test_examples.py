"""The example architectures in specs/examples/ through their whole life with the installed CLI against a moto
server: validate, apply, diff in sync, a second apply with no write, an out-of-band change caught by diff and
repaired, and destroy leaving nothing the environment owns."""
from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import ROOT, apply_converges, owned_arns, rest_api_id

EXAMPLES = ROOT / "specs" / "examples"
ACCOUNT_REGION = "us-east-1:123456789012"


def _drift_batch_setting(boto):
    client = boto("lambda")
    mapping, = client.list_event_source_mappings(FunctionName="sqs-batch-dev-worker")["EventSourceMappings"]
    client.update_event_source_mapping(UUID=mapping["UUID"], FunctionResponseTypes=[])
    return "report_batch_item_failures: false -> true"


def _drift_transformer(boto):
    events = boto("events")
    target = next(t for t in events.list_targets_by_rule(Rule="order-flow-dev-order-placed")["Targets"]
                  if t["Id"] == "fulfil")
    target.pop("InputTransformer")
    events.put_targets(Rule="order-flow-dev-order-placed", Targets=[target])
    return "event_rules.order-placed.targets.fulfil.input_transformer: null -> "


def _drift_response_template(boto):
    client = boto("apigateway")
    api_id = rest_api_id(boto, "items-api-dev-items")
    resource = next(r for r in client.get_resources(restApiId=api_id)["items"] if r["path"] == "/items")
    client.put_integration_response(restApiId=api_id, resourceId=resource["id"], httpMethod="POST", statusCode="201",
                                    selectionPattern="", responseTemplates={"application/json": "{}"})
    return "responses.201.templates.application/json: {} -> "


@pytest.mark.parametrize("name, project, drift", [
    ("sqs-partial-batch", "sqs-batch", _drift_batch_setting),
    ("eventbridge-step-functions", "order-flow", _drift_transformer),
    ("api-lambda-dynamodb", "items-api", _drift_response_template),
])
def test_example_applies_converges_catches_drift_and_destroys(cli, boto, name, project, drift):
    spec = EXAMPLES / f"{name}.yaml"
    apply_converges(cli, spec)
    expected = drift(boto)
    drifted = cli("diff", spec)
    assert drifted.code == 2 and expected in drifted.out, drifted
    assert cli("apply", spec, "--yes").code == 0
    assert cli("diff", spec).code == 0
    destroyed = cli("destroy", spec, "--yes")
    assert destroyed.code == 0, destroyed
    assert owned_arns(boto, project, "dev") == []


def test_the_workflow_example_reads_back_as_written(cli, boto):
    spec = EXAMPLES / "eventbridge-step-functions.yaml"
    apply_converges(cli, spec)
    machine = boto("stepfunctions").describe_state_machine(
        stateMachineArn=f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:order-flow-dev-fulfil")
    definition = json.loads(machine["definition"])
    assert definition["States"]["Reserve"]["Parameters"]["FunctionName"] == \
        f"arn:aws:lambda:{ACCOUNT_REGION}:function:order-flow-dev-reserve"
    logging = machine["loggingConfiguration"]
    assert (logging["level"], logging["includeExecutionData"]) == ("ALL", True)
    assert logging["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(
        ":log-group:/order-flow/dev/workflows:*")
    function = boto("lambda").get_function_configuration(FunctionName="order-flow-dev-reserve")
    assert (function["Runtime"], function["Architectures"]) == ("nodejs22.x", ["arm64"])
    assert cli("destroy", spec, "--yes").code == 0
