"""State machine logging on moto to a log group the spec names (or one from outside it), with its level and
include_execution_data: no generated log group, read back, a changed level caught by diff."""
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
log_groups:
  workflows: {name: /shop/dev/workflows, retention_days: 14}
state_machines:
  orders:
    logging: {log_group: workflows, level: ALL, include_execution_data: true}
    definition: {StartAt: Done, States: {Done: {Type: Succeed}}}
  legacy:
    logging: {log_group: "EXTERNAL", level: ERROR}
    definition: {StartAt: Done, States: {Done: {Type: Succeed}}}
"""
REGION_ACCOUNT = "us-east-1:123456789012"
EXTERNAL = f"arn:aws:logs:{REGION_ACCOUNT}:log-group:/legacy/workflows"


@pytest.fixture
def spec_path(write_spec, aws):
    aws("logs").create_log_group(logGroupName="/legacy/workflows")
    return write_spec(SPEC.replace("EXTERNAL", EXTERNAL))


def _logging(aws, name):
    return aws("stepfunctions").describe_state_machine(
        stateMachineArn=f"arn:aws:states:{REGION_ACCOUNT}:stateMachine:shop-dev-{name}")["loggingConfiguration"]


def test_logs_go_to_the_named_groups_with_level_and_execution_data(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    orders = _logging(aws, "orders")
    assert (orders["level"], orders["includeExecutionData"]) == ("ALL", True)
    assert orders["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"] == \
        f"arn:aws:logs:{REGION_ACCOUNT}:log-group:/shop/dev/workflows:*"
    legacy = _logging(aws, "legacy")
    assert legacy["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"] == EXTERNAL + ":*"
    groups = {g["logGroupName"] for g in aws("logs").describe_log_groups()["logGroups"]}
    assert not any(name.startswith("/aws/vendedlogs/states/") for name in groups)


def test_a_changed_level_is_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    arn = f"arn:aws:states:{REGION_ACCOUNT}:stateMachine:shop-dev-orders"
    aws("stepfunctions").update_state_machine(stateMachineArn=arn, loggingConfiguration={
        **_logging(aws, "orders"), "level": "ERROR", "includeExecutionData": False})
    change = only_change(e.plan(), "state_machines.orders")
    assert_diff(change, "logging.level", "ERROR", "ALL")
    assert_diff(change, "logging.include_execution_data", False, True)
    assert_repaired(e)


def test_retention_beside_a_named_log_group_is_rejected(write_spec):
    text = SPEC.replace("level: ALL,", "level: ALL, retention_days: 7,").replace("EXTERNAL", EXTERNAL)
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(text)), default_registry())
    assert "retention_days belongs to the log group named by log_group; set it there" in str(raised.value)
