"""Step Functions state machines on moto (in-process): definition references, generated role and log
group, semantic definition drift, logging/tracing drift, validation with file:line, destroy."""
from __future__ import annotations

import json

import pytest

from provisioner.engine.diff import ABSENT
from provisioner.errors import SpecError
from provisioner.policy.lint import STAR_ONLY_ACTIONS
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from provisioner.spec.refs import Ref
from tests.reconcilers.helpers import (
    assert_diff,
    assert_repaired,
    only_change,
    performed,
    run_quartet,
    stubbed_node,
    write_code,
)

SPEC = """
version: 1
project: shop
environment: dev
defaults:
  log_groups: {retention_days: 7}
sqs_queues:
  errors: {}
  unrelated: {}
sns_topics:
  alerts: {}
dynamodb_tables:
  runs:
    partition_key: {name: id, type: S}
lambda_functions:
  processor: {code: code, handler: app.handler}
  bystander: {code: code, handler: app.handler}
state_machines:
  pipeline:
    type: STANDARD
    definition:
      StartAt: Process
      States:
        Process:
          Type: Task
          Resource: arn:aws:states:::lambda:invoke
          Parameters: {FunctionName: "${lambda_functions.processor.arn}", "Payload.$": "$"}
          Retry: [{ErrorEquals: [States.TaskFailed], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2}]
          Catch: [{ErrorEquals: [States.ALL], Next: Failed}]
          Next: Fanout
        Fanout:
          Type: Parallel
          Branches:
            - StartAt: Record
              States:
                Record:
                  Type: Task
                  Resource: arn:aws:states:::dynamodb:putItem
                  Parameters: {TableName: "${dynamodb_tables.runs.name}", Item: {id: {"S.$": "$$.Execution.Id"}}}
                  Retry: [{ErrorEquals: [States.ALL], MaxAttempts: 2}]
                  Catch: [{ErrorEquals: [States.ALL], Next: Lost}]
                  End: true
                Lost: {Type: Fail}
            - StartAt: Notify
              States:
                Notify:
                  Type: Task
                  Resource: arn:aws:states:::sns:publish
                  Parameters: {TopicArn: "${sns_topics.alerts.arn}", "Message.$": "$"}
                  Retry: [{ErrorEquals: [States.ALL], MaxAttempts: 2}]
                  Catch: [{ErrorEquals: [States.ALL], Next: Quiet}]
                  End: true
                Quiet: {Type: Succeed}
          End: true
        Failed:
          Type: Task
          Resource: arn:aws:states:::sqs:sendMessage
          Parameters: {QueueUrl: "${sqs_queues.errors.url}", "MessageBody.$": "$"}
          Retry: [{ErrorEquals: [States.ALL], MaxAttempts: 5}]
          Catch: [{ErrorEquals: [States.ALL], Next: GiveUp}]
          End: true
        GiveUp: {Type: Fail, Error: Unrecoverable}
    logging: {level: ERROR, include_execution_data: true, retention_days: 30}
    tracing: true
    tags: {team: data}
"""
MACHINE = "shop-dev-pipeline"
ACCOUNT_REGION = "us-east-1:123456789012"
MACHINE_ARN = f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:{MACHINE}"
PROCESSOR_ARN = f"arn:aws:lambda:{ACCOUNT_REGION}:function:shop-dev-processor"
BYSTANDER_ARN = f"arn:aws:lambda:{ACCOUNT_REGION}:function:shop-dev-bystander"
LOG_GROUP = f"/aws/vendedlogs/states/{MACHINE}"
LOG_GROUP_ARN = f"arn:aws:logs:{ACCOUNT_REGION}:log-group:{LOG_GROUP}"
HANDLER = "def handler(event, context):\n    return event\n"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": HANDLER})
    return write_spec(SPEC)


def _describe(aws):
    return aws("stepfunctions").describe_state_machine(stateMachineArn=MACHINE_ARN)


def _role_statements(aws, role=MACHINE) -> list[dict]:
    iam = aws("iam")
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        statements += iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]
    return statements


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_quartet_and_deployed_machine(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    machine = _describe(aws)
    definition = json.loads(machine["definition"])
    process = definition["States"]["Process"]
    assert process["Parameters"] == {"FunctionName": PROCESSOR_ARN, "Payload.$": "$"}
    assert process["Retry"] == [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 2, "MaxAttempts": 3,
                                 "BackoffRate": 2}]
    queue_url = aws("sqs").get_queue_url(QueueName="shop-dev-errors")["QueueUrl"]
    assert definition["States"]["Failed"]["Parameters"]["QueueUrl"] == queue_url
    record, notify = (branch["States"][branch["StartAt"]] for branch in definition["States"]["Fanout"]["Branches"])
    assert record["Parameters"]["TableName"] == "shop-dev-runs"
    assert notify["Parameters"]["TopicArn"] == f"arn:aws:sns:{ACCOUNT_REGION}:shop-dev-alerts"
    assert machine["type"] == "STANDARD"
    assert machine["roleArn"] == f"arn:aws:iam::123456789012:role/{MACHINE}"
    assert machine["loggingConfiguration"] == {
        "level": "ERROR", "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP_ARN + ":*"}}]}
    assert machine["tracingConfiguration"] == {"enabled": True}
    tags = {t["key"]: t["value"] for t in
            aws("stepfunctions").list_tags_for_resource(resourceArn=MACHINE_ARN)["tags"]}
    assert tags["team"] == "data" and tags["provisioner:resource"] == "state_machines.pipeline"
    group, = aws("logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    assert group["logGroupName"] == LOG_GROUP and group["retentionInDays"] == 30


def test_generated_role_lists_exactly_the_referenced_resources(spec_path, engine, aws):
    engine(spec_path).apply()
    statements = _role_statements(aws)
    named, star_actions = set(), set()
    for statement in statements:
        resources, actions = _as_list(statement["Resource"]), _as_list(statement["Action"])
        if resources == ["*"]:
            assert all(a.lower() in STAR_ONLY_ACTIONS for a in actions), statement
            star_actions.update(actions)
        else:
            assert "*" not in resources, statement
            named.update(resources)
    table = f"arn:aws:dynamodb:{ACCOUNT_REGION}:table/shop-dev-runs"
    assert named == {PROCESSOR_ARN, PROCESSOR_ARN + ":*", f"arn:aws:sqs:{ACCOUNT_REGION}:shop-dev-errors",
                     f"arn:aws:sns:{ACCOUNT_REGION}:shop-dev-alerts", table}
    by_sid = {s["Sid"]: s for s in statements}
    assert _as_list(by_sid["InvokeProcessor"]["Action"]) == ["lambda:InvokeFunction"]
    assert "sqs:SendMessage" in by_sid["QueueErrorsSend"]["Action"]
    assert _as_list(by_sid["TopicAlertsPublish"]["Action"]) == ["sns:Publish"]
    assert "dynamodb:PutItem" in by_sid["TableRunsWrite"]["Action"]
    assert star_actions == {
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
        "xray:GetSamplingTargets"}
    trust = aws("iam").get_role(RoleName=MACHINE)["Role"]["AssumeRolePolicyDocument"]
    assert _as_list(trust["Statement"][0]["Principal"]["Service"]) == ["states.amazonaws.com"]


def test_role_without_logging_and_tracing_has_no_star_statements(write_spec, tmp_path, engine, aws):
    write_code(tmp_path, {"app.py": HANDLER})
    text = SPEC.replace("logging: {level: ERROR, include_execution_data: true, retention_days: 30}",
                        "logging: {level: OFF}").replace("tracing: true", "tracing: false")
    e = engine(write_spec(text))
    e.apply()
    assert all(_as_list(s["Resource"]) != ["*"] for s in _role_statements(aws))
    assert _describe(aws)["loggingConfiguration"] == {"level": "OFF"}
    assert aws("logs").describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/")["logGroups"] == []
    assert not e.plan().has_changes


def test_definition_drift_is_a_field_diff_and_repaired(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    definition = json.loads(_describe(aws)["definition"])
    definition["States"]["Process"]["Parameters"]["FunctionName"] = BYSTANDER_ARN
    definition["States"]["Process"]["Retry"][0]["MaxAttempts"] = 9
    aws("stepfunctions").update_state_machine(stateMachineArn=MACHINE_ARN, definition=json.dumps(definition))
    change = only_change(e.plan(), "state_machines.pipeline")
    assert_diff(change, "definition.States.Process.Parameters.FunctionName", BYSTANDER_ARN, PROCESSOR_ARN)
    assert {d.path for d in change.diffs} == {"definition.States.Process.Parameters.FunctionName",
                                              "definition.States.Process.Retry"}
    assert_repaired(e)
    process = json.loads(_describe(aws)["definition"])["States"]["Process"]
    assert process["Parameters"]["FunctionName"] == PROCESSOR_ARN and process["Retry"][0]["MaxAttempts"] == 3


def test_reordered_and_reformatted_definition_is_not_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    deployed = _describe(aws)["definition"]
    reordered = json.dumps(_reversed_keys(json.loads(deployed)), indent=4)
    assert reordered != deployed and json.loads(reordered) == json.loads(deployed)
    aws("stepfunctions").update_state_machine(stateMachineArn=MACHINE_ARN, definition=reordered)
    assert _describe(aws)["definition"] == reordered
    assert not e.plan().has_changes


def _reversed_keys(value):
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


@pytest.mark.parametrize("out_of_band, path, before, after", [
    ({"loggingConfiguration": {"level": "ALL", "includeExecutionData": True, "destinations": [
        {"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP_ARN + ":*"}}]}}, "logging.level", "ALL", "ERROR"),
    ({"loggingConfiguration": {"level": "ERROR", "includeExecutionData": False, "destinations": [
        {"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP_ARN + ":*"}}]}},
     "logging.include_execution_data", False, True),
    ({"loggingConfiguration": {"level": "OFF"}}, "logging.destination", None, LOG_GROUP_ARN + ":*"),
    ({"tracingConfiguration": {"enabled": False}}, "tracing", False, True),
    ({"roleArn": "arn:aws:iam::123456789012:role/someone-else"}, "role",
     "arn:aws:iam::123456789012:role/someone-else", f"arn:aws:iam::123456789012:role/{MACHINE}"),
])
def test_configuration_drift_is_detected_and_repaired(spec_path, engine, aws, out_of_band, path, before, after):
    e = engine(spec_path)
    e.apply()
    aws("stepfunctions").update_state_machine(stateMachineArn=MACHINE_ARN, **out_of_band)
    assert_diff(only_change(e.plan(), "state_machines.pipeline"), path, before, after)
    assert_repaired(e)
    machine = _describe(aws)
    assert machine["loggingConfiguration"]["level"] == "ERROR" and machine["tracingConfiguration"]["enabled"]


def test_tag_drift_is_repaired(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    sfn = aws("stepfunctions")
    sfn.untag_resource(resourceArn=MACHINE_ARN, tagKeys=["team"])
    sfn.tag_resource(resourceArn=MACHINE_ARN, tags=[{"key": "extra", "value": "x"}])
    change = only_change(e.plan(), "state_machines.pipeline")
    assert_diff(change, "tags.team", ABSENT, "data")
    assert_diff(change, "tags.extra", "x", ABSENT)
    assert_repaired(e)
    tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=MACHINE_ARN)["tags"]}
    assert tags["team"] == "data" and "extra" not in tags


def test_type_change_replaces_the_machine(spec_path, engine, aws, write_spec):
    engine(spec_path).apply()
    e = engine(write_spec(SPEC.replace("type: STANDARD", "type: EXPRESS"), "express.yaml"))
    change = only_change(e.plan(), "state_machines.pipeline", action="replace")
    assert_diff(change, "type", "STANDARD", "EXPRESS")
    e.apply()
    assert _describe(aws)["type"] == "EXPRESS"
    assert not e.plan().has_changes


def test_destroy_removes_machine_role_and_log_group(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    plan, outcomes = e.destroy()
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]
    assert {"state_machines.pipeline", "iam_roles.pipeline-role", "log_groups.pipeline-logs"} <= {
        c.address for c in plan.changes}
    assert aws("stepfunctions").list_state_machines()["stateMachines"] == []
    assert aws("logs").describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/")["logGroups"] == []
    assert [r["RoleName"] for r in aws("iam").list_roles()["Roles"]] == []


def test_machine_removed_from_spec_takes_its_role_and_log_group(spec_path, engine, aws, write_spec):
    engine(spec_path).apply()
    pruned = engine(write_spec(SPEC.split("state_machines:")[0], "pruned.yaml"))
    deletes = {c.address for c in pruned.plan().changes if c.action == "delete"}
    assert deletes == {"state_machines.pipeline", "iam_roles.pipeline-role", "log_groups.pipeline-logs"}


# --- validate (no AWS) ---

def _load(write_spec, text):
    return load_spec(str(write_spec(text)), default_registry())


def _line(text: str, marker: str, after: str | None = None) -> int:
    """Line number of the first row containing marker (after the row containing `after`, if given)."""
    rows = text.splitlines()
    start = next(i for i, row in enumerate(rows) if after in row) if after else 0
    return next(i for i, row in enumerate(rows[start:], start + 1) if marker in row)


@pytest.mark.parametrize("change, path, message, at", [
    (("Resource: arn:aws:states:::lambda:invoke", "Resource: ${lambda_functions.processor.arn}"),
     "state_machines.pipeline.definition.States.Process.Resource",
     "state 'Process' invokes a Lambda function by its ARN: use Resource arn:aws:states:::lambda:invoke", "Resource:"),
    (("Resource: arn:aws:states:::lambda:invoke",
      "Resource: arn:aws:lambda:us-east-1:123456789012:function:elsewhere"),
     "state_machines.pipeline.definition.States.Process.Resource", "invokes a Lambda function by its ARN",
     "Resource:"),
    (("Next: Fanout", "Next: Fanout-typo"), "state_machines.pipeline.definition.States.Process.Next",
     "state 'Process': Next 'Fanout-typo' is not a state", "Next: Fanout-typo"),
    (("Next: Failed}]", "Next: Nowhere}]"), "state_machines.pipeline.definition.States.Process.Catch[0].Next",
     "state 'Process': Catch[0].Next 'Nowhere' is not a state", "Next: Nowhere"),
    (("StartAt: Process", "StartAt: Begin"), "state_machines.pipeline.definition.StartAt",
     "StartAt 'Begin' is not a state (states here: Process, Fanout, Failed, GiveUp)", "StartAt: Begin"),
    (("Next: Lost}]", "Next: Failed}]"),
     "state_machines.pipeline.definition.States.Fanout.Branches[0].States.Record.Catch[0].Next",
     "state 'Record': Catch[0].Next 'Failed' is not a state (states here: Record, Lost)", ("Record:", "Catch:")),
    (("StartAt: Notify", "StartAt: Process"), "state_machines.pipeline.definition.States.Fanout.Branches[1].StartAt",
     "StartAt 'Process' is not a state (states here: Notify, Quiet)", "- StartAt: Process"),
    (('Parameters: {FunctionName: "${lambda_functions.processor.arn}", "Payload.$": "$"}',
      'Parameters: {"Payload.$": "$"}'), "state_machines.pipeline.definition.States.Process.Parameters",
     "lambda:invoke needs Parameters FunctionName", 'Parameters: {"Payload.$"'),
    (('"${lambda_functions.processor.arn}", "Payload.$": "$"}', '"${lambda_functions.processor.arn}"}'),
     "state_machines.pipeline.definition.States.Process.Parameters",
     "state 'Process': lambda:invoke needs Parameters \"Payload.$\"", "Parameters: {FunctionName"),
    (("Resource: arn:aws:states:::sns:publish\n", "Resource: arn:aws:states:::sns:publish.waitForTaskToken\n",
      "type: STANDARD", "type: EXPRESS"),
     "state_machines.pipeline.definition.States.Fanout.Branches[1].States.Notify.Resource",
     "EXPRESS state machines do not support the .waitForTaskToken", "sns:publish.waitForTaskToken"),
])
def test_validate_rejects_definition_mistakes_with_the_line(spec_path, write_spec, change, path, message, at):
    text = SPEC
    for old, new in zip(change[::2], change[1::2], strict=True):
        assert old in text, old
        text = text.replace(old, new)
    text = text.lstrip()
    with pytest.raises(SpecError) as raised:
        _load(write_spec, text)
    errors = [d for d in raised.value.diagnostics if d.severity == "error"]
    found = [d for d in errors if d.path == path and message in d.message]
    assert found, [str(d) for d in errors]
    after, marker = at if isinstance(at, tuple) else ("state_machines:", at)
    line = _line(text, marker, after=after)
    assert found[0].line == line, (str(found[0]), line)
    assert f"spec.yaml:{line}: {path}: " in str(raised.value)


def test_tasks_without_retry_or_catch_are_warnings(spec_path, write_spec):
    text = SPEC.replace("          Retry: [{ErrorEquals: [States.ALL], MaxAttempts: 5}]\n", "").replace(
        "          Catch: [{ErrorEquals: [States.ALL], Next: GiveUp}]\n", "").lstrip()
    spec = _load(write_spec, text)
    warnings = {(d.line, d.path, d.message) for d in spec.warnings}
    line = _line(text, "Failed:", after="Fanout:")
    path = "state_machines.pipeline.definition.States.Failed"
    assert warnings == {
        (line, path, "state 'Failed' has no Retry: a transient error fails it at once"),
        (line, path, "state 'Failed' has no Catch: an error it does not retry fails the whole execution")}
    assert not _load(write_spec, SPEC).warnings   # every task of SPEC retries and catches


def test_integration_targets_outside_the_spec_are_warnings(spec_path, write_spec):
    text = SPEC.replace('"${sqs_queues.errors.url}"', "https://sqs.us-east-1.amazonaws.com/1/other").replace(
        "Resource: arn:aws:states:::sns:publish", "Resource: arn:aws:states:::aws-sdk:sns:publish")
    messages = {(d.path.rsplit(".", 1)[-1], d.message) for d in _load(write_spec, text).warnings}
    assert ("Parameters", "state 'Failed': QueueUrl is not a ${sqs_queues.NAME...} reference, so the generated "
                          "role grants nothing on it and the call is denied") in messages
    assert any(p == "Resource" and "no permission for aws-sdk:sns:publish" in m for p, m in messages), messages


def test_role_grants_follow_the_definition(spec_path, write_spec):
    spec = _load(write_spec, SPEC)
    role = spec.nodes["iam_roles.pipeline-role"]
    assert role.owner == "state_machines.pipeline"
    assert role.props["grants"] == [
        {"function": Ref("lambda_functions.processor", "arn"), "access": "invoke", "qualified": True},
        {"sqs_queue": Ref("sqs_queues.errors", "arn"), "access": "send"},
        {"dynamodb_table": Ref("dynamodb_tables.runs", "arn"), "access": "write"},
        {"sns_topic": Ref("sns_topics.alerts", "arn"), "access": "publish"}]
    machine = spec.nodes["state_machines.pipeline"]
    assert {"iam_roles.pipeline-role", "log_groups.pipeline-logs", "lambda_functions.processor"} <= machine.deps
    assert "lambda_functions.bystander" not in machine.deps
    assert spec.nodes["log_groups.pipeline-logs"].physical_name == LOG_GROUP


# --- calls moto cannot make fail: checked call by call with botocore's Stubber ---

STUBBED_SPEC = """
version: 1
project: shop
environment: dev
state_machines:
  pipeline:
    definition:
      StartAt: Done
      States:
        Done: {Type: Succeed}
"""
ROLE_NOT_READY = ("Neither the global service principal states.amazonaws.com, nor the regional one is authorized "
                  "to assume the provided role.")


@pytest.fixture
def stubbed(write_spec):
    with stubbed_node(write_spec(STUBBED_SPEC), "state_machines.pipeline", "stepfunctions") as stubbed:
        yield stubbed


def _create_params(desired):
    from provisioner.services.tagging import tags_to_list
    return {"name": MACHINE, "type": "STANDARD", "roleArn": f"arn:aws:iam::123456789012:role/{MACHINE}",
            "definition": json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            "loggingConfiguration": {"level": "ERROR", "includeExecutionData": False, "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP_ARN + ":*"}}]},
            "tracingConfiguration": {"enabled": False}, "tags": tags_to_list(desired["tags"], "key", "value")}


@pytest.mark.parametrize("code, message", [
    ("AccessDeniedException", ROLE_NOT_READY),
    ("AccessDeniedException", "The state machine IAM Role is not authorized to access the Log Destination"),
    ("StateMachineDeleting", "State machine is being deleted"),
])
def test_create_waits_for_the_new_role_and_a_replaced_machine(stubbed, code, message):
    import datetime
    ctx, node, reconciler, desired, stub = stubbed
    params = _create_params(desired)
    stub.add_client_error("create_state_machine", code, message, http_status_code=400, expected_params=params)
    stub.add_response("create_state_machine", {"stateMachineArn": MACHINE_ARN,
                                               "creationDate": datetime.datetime(2024, 1, 1)}, params)
    assert performed(reconciler.create(node, desired, ctx), ctx) == {"arn": MACHINE_ARN}
    stub.assert_no_pending_responses()


def test_create_does_not_retry_other_access_errors(stubbed):
    from botocore.exceptions import ClientError
    ctx, node, reconciler, desired, stub = stubbed
    stub.add_client_error("create_state_machine", "AccessDeniedException",
                          "User is not authorized to perform: states:CreateStateMachine", http_status_code=400)
    with pytest.raises(ClientError, match="states:CreateStateMachine"):
        performed(reconciler.create(node, desired, ctx), ctx)
    stub.assert_no_pending_responses()


def test_a_machine_being_deleted_reads_as_absent(stubbed):
    import datetime
    ctx, node, reconciler, desired, stub = stubbed
    stub.add_response("describe_state_machine", {
        "stateMachineArn": MACHINE_ARN, "name": MACHINE, "status": "DELETING", "type": "STANDARD",
        "definition": _create_params(desired)["definition"], "roleArn": "arn:aws:iam::123456789012:role/x",
        "creationDate": datetime.datetime(2024, 1, 1)}, {"stateMachineArn": MACHINE_ARN})
    assert reconciler.read(node, ctx) is None
    stub.assert_no_pending_responses()


def test_grants_cover_other_integrations(spec_path, write_spec):
    text = SPEC.replace("Resource: arn:aws:states:::dynamodb:putItem",
                        "Resource: arn:aws:states:::aws-sdk:dynamodb:query").replace(
        "    tracing: true\n", "    tracing: true\n    grants: [{dynamodb_table: runs, access: read}]\n")
    spec = _load(write_spec, text)
    assert not spec.warnings, [str(w) for w in spec.warnings]
    grants = spec.nodes["iam_roles.pipeline-role"].props["grants"]
    assert grants[0] == {"dynamodb_table": Ref("dynamodb_tables.runs", "arn"), "access": "read"}
    assert not any(g.get("access") == "write" for g in grants)   # putItem is gone, so is its grant
    without = _load(write_spec, text.replace("    grants: [{dynamodb_table: runs, access: read}]\n", ""))
    assert [w.message for w in without.warnings] == [
        "state 'Record': the generated role has no permission for aws-sdk:dynamodb:query (it covers lambda:invoke, "
        "sqs:sendMessage, sns:publish, dynamodb:getItem, dynamodb:putItem, dynamodb:updateItem, "
        "dynamodb:deleteItem); add what the call needs to grants"]
