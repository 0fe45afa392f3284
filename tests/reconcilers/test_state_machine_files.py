"""A state machine definition loaded on moto from an ASL file (JSON or YAML) with ${NAME} placeholders filled
from definition_substitutions and ${...} references: deployed, its role compiled from it, drift caught."""
from __future__ import annotations

import json

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from provisioner.spec.refs import Ref
from tests.reconcilers.helpers import assert_repaired, only_change, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  restock: {}
lambda_functions:
  checker: {code: code, handler: app.handler}
state_machines:
  stock:
    logging: {level: OFF}
    definition_file: statemachine/stock.asl.json
    definition_substitutions: {CheckerArn: "${lambda_functions.checker.arn}", Threshold: 5}
"""
ASL = {
    "Comment": "Checks stock and asks for a restock below the threshold",
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "${CheckerArn}", "Payload": {"threshold": "${Threshold}"}},
                  "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                  "Next": "Restock"},
        "Restock": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                    "Parameters": {"QueueUrl": "${sqs_queues.restock.url}", "MessageBody.$": "$"},
                    "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                    "End": True},
        "Failed": {"Type": "Fail"},
    },
}
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:shop-dev-stock"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": "def handler(event, context):\n    return event\n"})
    write_code(tmp_path, {"stock.asl.json": json.dumps(ASL, indent=2)}, folder="statemachine")
    return write_spec(SPEC)


def test_the_file_is_deployed_with_its_placeholders_and_references_filled(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    deployed = json.loads(aws("stepfunctions").describe_state_machine(stateMachineArn=ARN)["definition"])
    check = deployed["States"]["Check"]["Parameters"]
    assert check == {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-checker",
                     "Payload": {"threshold": "5"}}
    assert deployed["States"]["Restock"]["Parameters"]["QueueUrl"].endswith("/123456789012/shop-dev-restock")
    spec = load_spec(str(spec_path), default_registry())
    grants = spec.nodes["iam_roles.stock-role"].props["grants"]
    assert {"function": Ref("lambda_functions.checker", "arn"), "access": "invoke", "qualified": True} in grants


def test_a_definition_changed_by_hand_is_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    changed = json.loads(aws("stepfunctions").describe_state_machine(stateMachineArn=ARN)["definition"])
    changed["States"]["Check"]["Parameters"]["Payload"]["threshold"] = "50"
    aws("stepfunctions").update_state_machine(stateMachineArn=ARN, definition=json.dumps(changed))
    change = only_change(e.plan(), "state_machines.stock")
    assert "definition" in {d.field for d in change.diffs}
    assert_repaired(e)


def test_a_yaml_file_reads_like_json(spec_path, tmp_path, engine):
    import yaml
    (tmp_path / "statemachine" / "stock.asl.yaml").write_text(yaml.safe_dump(ASL))
    text = spec_path.read_text().replace("stock.asl.json", "stock.asl.yaml")
    spec_path.write_text(text)
    spec = load_spec(str(spec_path), default_registry())
    assert spec.nodes["state_machines.stock"].props["definition"]["StartAt"] == "Check"


@pytest.mark.parametrize("change, message", [
    (("stock.asl.json", "missing.asl.json"), "definition_file 'statemachine/missing.asl.json' cannot be read"),
    ((", Threshold: 5", ""), "bad reference '${Threshold}'"),
])
def test_a_missing_file_or_placeholder_is_an_error(spec_path, change, message):
    spec_path.write_text(spec_path.read_text().replace(*change))
    with pytest.raises(SpecError) as raised:
        load_spec(str(spec_path), default_registry())
    assert message in str(raised.value)
    assert "definition_file" in str(raised.value)
