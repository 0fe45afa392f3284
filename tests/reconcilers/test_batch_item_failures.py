"""ReportBatchItemFailures stays on by default for SQS and stream triggers; validate warns when the handler is not
known to return batchItemFailures; switching it off is applied, read back and compared on moto."""
from __future__ import annotations

import pytest

from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import assert_diff, assert_repaired, only_change, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  jobs: {visibility_timeout: 180}
lambda_functions:
  worker:
    code: code
    handler: app.handler
    triggers: [{sqs_queue: jobs}]
"""
PARTIAL = ("def handler(event, context):\n"
           "    return {'batchItemFailures': [{'itemIdentifier': r['messageId']} for r in event['Records'] if 0]}\n")
PLAIN = "def handler(event, context):\n    for record in event['Records']:\n        print(record['body'])\n"


def _spec(write_spec, tmp_path, code, text=SPEC):
    write_code(tmp_path, {"app.py": code})
    return write_spec(text)


def test_a_handler_returning_batch_item_failures_gets_no_warning(write_spec, tmp_path):
    assert not load_spec(str(_spec(write_spec, tmp_path, PARTIAL)), default_registry()).warnings


def test_a_handler_that_never_mentions_them_is_warned_about(write_spec, tmp_path):
    spec = load_spec(str(_spec(write_spec, tmp_path, PLAIN)), default_registry())
    [warning] = spec.warnings
    assert warning.path == "lambda_functions.worker.triggers[0].report_batch_item_failures"
    assert "app.handler never mentions batchItemFailures" in warning.message
    off = SPEC.replace("triggers: [{sqs_queue: jobs}]", "triggers: [{sqs_queue: jobs, report_batch_item_failures: false}]")
    assert not load_spec(str(write_spec(off)), default_registry()).warnings


@pytest.mark.parametrize("setting", [True, False])
def test_the_setting_is_applied_and_drift_is_caught(write_spec, tmp_path, engine, aws, setting):
    text = SPEC.replace("triggers: [{sqs_queue: jobs}]",
                        f"triggers: [{{sqs_queue: jobs, report_batch_item_failures: {str(setting).lower()}}}]")
    path = _spec(write_spec, tmp_path, PARTIAL, text)
    run_quartet(engine(path))
    client = aws("lambda")
    mapping, = client.list_event_source_mappings(FunctionName="shop-dev-worker")["EventSourceMappings"]
    assert ("ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])) is setting
    client.update_event_source_mapping(UUID=mapping["UUID"],
                                       FunctionResponseTypes=[] if setting else ["ReportBatchItemFailures"])
    e = engine(path)
    change = only_change(e.plan(), "lambda_functions.worker")
    source = mapping["EventSourceArn"]
    assert_diff(change, f"triggers.{source}.report_batch_item_failures", not setting, setting)
    assert_repaired(e)
