"""What an EventBridge target receives on moto: the whole event, a part of it (input_path), a constant (input)
or a template filled from the event (input_transformer); each read back, compared and repaired."""
from __future__ import annotations

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import assert_diff, assert_repaired, only_change, run_quartet

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  details: {}
  summaries: {}
state_machines:
  fulfil:
    logging: {level: OFF}
    definition: {StartAt: Done, States: {Done: {Type: Succeed}}}
event_rules:
  order-placed:
    event_pattern: {source: [shop.orders]}
    targets:
      details: {sqs_queue: details, input_path: $.detail}
      summary:
        sqs_queue: summaries
        input_transformer:
          input_paths: {order: $.detail.orderId, at: $.time}
          input_template: '{"order": <order>, "at": "<at>", "rule": "<aws.events.rule-name>"}'
      workflow:
        state_machine: fulfil
        input_transformer: {input_paths: {detail: $.detail}, input_template: '{"order": <detail>}'}
"""
RULE = "shop-dev-order-placed"


@pytest.fixture
def spec_path(write_spec):
    return write_spec(SPEC)


def _targets(aws) -> dict:
    return {t["Id"]: t for t in aws("events").list_targets_by_rule(Rule=RULE)["Targets"]}


def test_targets_get_a_path_or_a_template_of_the_event(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    targets = _targets(aws)
    assert targets["details"]["InputPath"] == "$.detail"
    assert targets["summary"]["InputTransformer"] == {
        "InputPathsMap": {"order": "$.detail.orderId", "at": "$.time"},
        "InputTemplate": '{"order": <order>, "at": "<at>", "rule": "<aws.events.rule-name>"}'}
    assert "RoleArn" in targets["workflow"] and "InputTransformer" in targets["workflow"]


def test_a_changed_template_or_path_is_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    summary = _targets(aws)["summary"]
    aws("events").put_targets(Rule=RULE, Targets=[
        {**summary, "InputTransformer": {**summary["InputTransformer"], "InputTemplate": '{"order": <order>}'}},
        {**_targets(aws)["details"], "InputPath": "$"}])
    change = only_change(e.plan(), "event_rules.order-placed")
    assert_diff(change, "targets.details.input_path", "$", "$.detail")
    assert_diff(change, "targets.summary.input_transformer.input_template", '{"order": <order>}',
                '{"order": <order>, "at": "<at>", "rule": "<aws.events.rule-name>"}')
    assert_repaired(e)


@pytest.mark.parametrize("change, message", [
    ("details: {sqs_queue: details, input_path: $.detail}",
     "details: {sqs_queue: details, input_path: $.detail, input: {a: 1}}"),
    ("input_template: '{\"order\": <detail>}'", "input_template: '{\"order\": <details>}'"),
])
def test_validate_rejects_two_inputs_and_unknown_placeholders(write_spec, change, message):
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(SPEC.replace(*((change, message))))), default_registry())
    text = str(raised.value)
    assert ("give at most one of input, input_path, input_transformer (this target has input and input_path)" in text
            or "<details> is not one of input_paths (detail)" in text), text
