"""EventBridge rules on moto (in-process): targets, permissions through deliveries, the generated role for
state machine targets, drift of rule and target settings, ownership, destroy, schedule validation."""
from __future__ import annotations

import json

import pytest

from provisioner.engine.diff import ABSENT
from provisioner.errors import OwnershipConflict, SpecError
from provisioner.services import default_registry
from provisioner.services.events import schedule_problem
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import (
    assert_repaired,
    diffs_by_path,
    only_change,
    run_quartet,
    write_code,
)

SPEC = """
version: 1
project: shop
environment: dev
kms_keys:
  data: {deletion_window_days: 7}
sqs_queues:
  events-dlq: {kms_key: data, retention_seconds: 1209600}
  sync-jobs: {}
sns_topics:
  alerts: {kms_key: data}
lambda_functions:
  product-service: {code: code, handler: app.handler}
state_machines:
  pipeline:
    logging: {level: OFF}
    definition: {StartAt: Done, States: {Done: {Type: Succeed}}}
event_rules:
  inventory-sync:
    description: Nightly inventory reconciliation
    schedule: cron(0 3 * * ? *)
    targets:
      sync:
        function: product-service
        input: {mode: full}
        retry: {max_attempts: 3, max_event_age_seconds: 3600}
        dead_letter_queue: events-dlq
      jobs: {sqs_queue: sync-jobs}
      pipeline: {state_machine: pipeline}
    tags: {team: inventory}
  order-placed:
    event_pattern: {source: [shop.orders], detail-type: [OrderPlaced]}
    enabled: false
    targets:
      alert: {sns_topic: alerts}
"""
ACCOUNT_REGION = "us-east-1:123456789012"
RULE = "event_rules.inventory-sync"
RULE_NAME = "shop-dev-inventory-sync"
RULE_ARN = f"arn:aws:events:{ACCOUNT_REGION}:rule/{RULE_NAME}"
PATTERN_RULE_ARN = f"arn:aws:events:{ACCOUNT_REGION}:rule/shop-dev-order-placed"
FUNCTION_ARN = f"arn:aws:lambda:{ACCOUNT_REGION}:function:shop-dev-product-service"
DLQ_ARN = f"arn:aws:sqs:{ACCOUNT_REGION}:shop-dev-events-dlq"
QUEUE_ARN = f"arn:aws:sqs:{ACCOUNT_REGION}:shop-dev-sync-jobs"
TOPIC_ARN = f"arn:aws:sns:{ACCOUNT_REGION}:shop-dev-alerts"
MACHINE_ARN = f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:shop-dev-pipeline"
ROLE_NAME = f"{RULE_NAME}-events"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
HANDLER = "def handler(event, context):\n    return event\n"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": HANDLER})
    return write_spec(SPEC)


@pytest.fixture
def applied(spec_path, engine, aws):
    eng = engine(spec_path)
    eng.apply()
    return eng, aws("events")


def targets(events, rule=RULE_NAME) -> dict:
    return {t["Id"]: t for t in events.list_targets_by_rule(Rule=rule)["Targets"]}


def put_rule_by_hand(events, name=RULE_NAME, **changes) -> None:
    """PutRule as someone would: the rule as it is, with some settings changed."""
    rule = events.describe_rule(Name=name)
    request = {key: rule[key] for key in ("Name", "ScheduleExpression", "EventPattern", "State", "Description")
               if key in rule}
    events.put_rule(**{**request, **changes})


def queue_statements(aws, name) -> list[dict]:
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])[
        "Statement"]


def test_quartet_and_deployed_rules(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    events = aws("events")
    rule = events.describe_rule(Name=RULE_NAME)
    assert (rule["Arn"], rule["ScheduleExpression"], rule["State"], rule["Description"]) == (
        RULE_ARN, "cron(0 3 * * ? *)", "ENABLED", "Nightly inventory reconciliation")
    assert targets(events) == {
        "sync": {"Id": "sync", "Arn": FUNCTION_ARN, "Input": json.dumps({"mode": "full"}),
                 "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                 "DeadLetterConfig": {"Arn": DLQ_ARN}},
        "jobs": {"Id": "jobs", "Arn": QUEUE_ARN,
                 "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}},
        "pipeline": {"Id": "pipeline", "Arn": MACHINE_ARN, "RoleArn": ROLE_ARN,
                     "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}},
    }
    tags = {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=RULE_ARN)["Tags"]}
    assert tags["team"] == "inventory" and tags["provisioner:resource"] == RULE
    pattern_rule = events.describe_rule(Name="shop-dev-order-placed")
    assert pattern_rule["State"] == "DISABLED" and "ScheduleExpression" not in pattern_rule
    assert json.loads(pattern_rule["EventPattern"]) == {"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="shop-dev-order-placed")["Targets"]] == [TOPIC_ARN]


def test_function_target_has_an_invoke_permission_for_exactly_this_rule(applied, aws):
    policy = json.loads(aws("lambda").get_policy(FunctionName="shop-dev-product-service")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == FUNCTION_ARN
    assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": RULE_ARN}}


def test_queue_topic_and_dead_letter_queue_let_only_their_rule_send(applied, aws):
    for queue in ("shop-dev-sync-jobs", "shop-dev-events-dlq"):
        (statement,) = queue_statements(aws, queue)
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": RULE_ARN}}
    topic = json.loads(aws("sns").get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["Policy"])
    (statement,) = topic["Statement"]
    assert (statement["Principal"], statement["Action"], statement["Resource"]) == (
        {"Service": "events.amazonaws.com"}, "sns:Publish", TOPIC_ARN)
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": PATTERN_RULE_ARN}}
    # the dead-letter queue is encrypted: its key lets EventBridge use it for this account only
    kms = aws("kms")
    key_id = kms.describe_key(KeyId="alias/shop-dev-data")["KeyMetadata"]["KeyId"]
    key_policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    events_statement = next(s for s in key_policy["Statement"] if s["Sid"] == "AllowEvents")
    assert events_statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert events_statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_state_machine_target_role_may_start_exactly_that_machine(applied, aws):
    iam = aws("iam")
    trust = iam.get_role(RoleName=ROLE_NAME)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": ["events.amazonaws.com"]}]
    statements = []
    for name in iam.list_role_policies(RoleName=ROLE_NAME)["PolicyNames"]:
        statements += iam.get_role_policy(RoleName=ROLE_NAME, PolicyName=name)["PolicyDocument"]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [(["states:StartExecution"], [MACHINE_ARN])]
    assert iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"] == []


def test_schedule_drift_is_repaired(applied):
    eng, events = applied
    put_rule_by_hand(events, ScheduleExpression="rate(5 minutes)")

    change = only_change(eng.plan(), RULE)
    assert diffs_by_path(change) == {"schedule": ("rate(5 minutes)", "cron(0 3 * * ? *)")}
    assert_repaired(eng)
    assert events.describe_rule(Name=RULE_NAME)["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert len(targets(events)) == 3


@pytest.mark.parametrize("name, call, path, before, after", [
    (RULE_NAME, "disable_rule", "enabled", False, True),
    ("shop-dev-order-placed", "enable_rule", "enabled", True, False),
])
def test_state_drift_is_repaired(applied, name, call, path, before, after):
    eng, events = applied
    getattr(events, call)(Name=name)

    change = only_change(eng.plan(), f"event_rules.{name.removeprefix('shop-dev-')}")
    assert diffs_by_path(change) == {path: (before, after)}
    assert_repaired(eng)
    assert events.describe_rule(Name=name)["State"] == ("ENABLED" if after else "DISABLED")


def test_description_drift_is_repaired(applied):
    eng, events = applied
    put_rule_by_hand(events, Description="changed by hand")
    change = only_change(eng.plan(), RULE)
    assert diffs_by_path(change) == {"description": ("changed by hand", "Nightly inventory reconciliation")}
    assert_repaired(eng)


def test_event_pattern_is_compared_as_json(applied):
    eng, events = applied
    reordered = '{ "detail-type" : ["OrderPlaced"],\n  "source": ["shop.orders"] }'
    put_rule_by_hand(events, name="shop-dev-order-placed", EventPattern=reordered)
    assert not eng.plan().has_changes

    put_rule_by_hand(events, name="shop-dev-order-placed",
                     EventPattern=json.dumps({"source": ["shop.payments"], "detail-type": ["OrderPlaced"]}))
    change = only_change(eng.plan(), "event_rules.order-placed")
    assert diffs_by_path(change) == {"event_pattern.source": (["shop.payments"], ["shop.orders"])}
    assert_repaired(eng)


def _put_target(events, **changes):
    target = {**targets(events)["sync"], **changes}
    events.put_targets(Rule=RULE_NAME, Targets=[target])


@pytest.mark.parametrize("changes, path, before, after", [
    ({"Input": json.dumps({"mode": "partial"})}, "targets.sync.input.mode", "partial", "full"),
    ({"RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 3600}},
     "targets.sync.retry.max_attempts", 0, 3),
    ({"RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60}},
     "targets.sync.retry.max_event_age_seconds", 60, 3600),
    ({"DeadLetterConfig": {"Arn": QUEUE_ARN}}, "targets.sync.dead_letter_queue", QUEUE_ARN, DLQ_ARN),
    ({"Arn": MACHINE_ARN}, "targets.sync.arn", MACHINE_ARN, FUNCTION_ARN),
])
def test_target_drift_is_repaired(applied, changes, path, before, after):
    eng, events = applied
    expected = targets(events)["sync"]
    _put_target(events, **changes)

    change = only_change(eng.plan(), RULE)
    assert diffs_by_path(change) == {path: (before, after)}
    assert_repaired(eng)
    assert targets(events)["sync"] == expected


def test_target_input_removed_is_drift(applied):
    eng, events = applied
    target = targets(events)["sync"]
    del target["Input"]
    events.put_targets(Rule=RULE_NAME, Targets=[target])
    change = only_change(eng.plan(), RULE)
    assert diffs_by_path(change) == {"targets.sync.input": (None, {"mode": "full"})}
    assert_repaired(eng)


def test_target_removed_or_added_by_hand_is_repaired(applied):
    eng, events = applied
    events.remove_targets(Rule=RULE_NAME, Ids=["jobs"])
    events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "extra", "Arn": TOPIC_ARN}])

    change = only_change(eng.plan(), RULE)
    found = diffs_by_path(change)
    assert set(found) == {"targets.jobs", "targets.extra"}
    assert found["targets.jobs"][0] is ABSENT and found["targets.jobs"][1]["arn"] == QUEUE_ARN
    assert found["targets.extra"][0]["arn"] == TOPIC_ARN and found["targets.extra"][1] is ABSENT
    assert_repaired(eng)
    assert set(targets(events)) == {"sync", "jobs", "pipeline"}


def test_tag_drift_is_repaired(applied):
    eng, events = applied
    events.tag_resource(ResourceARN=RULE_ARN, Tags=[{"Key": "team", "Value": "other"}, {"Key": "x", "Value": "y"}])
    change = only_change(eng.plan(), RULE)
    assert diffs_by_path(change) == {"tags.team": ("other", "inventory"), "tags.x": ("y", ABSENT)}
    assert_repaired(eng)


def test_spec_change_updates_only_what_changed(applied, write_spec):
    eng, events = applied
    write_spec(SPEC.replace("cron(0 3 * * ? *)", "rate(1 hour)").replace("{mode: full}", "{mode: quick}"))
    change = only_change(eng.plan(), RULE)
    assert diffs_by_path(change) == {"schedule": ("cron(0 3 * * ? *)", "rate(1 hour)"),
                                     "targets.sync.input.mode": ("full", "quick")}
    eng.apply()
    writes = {op for (_, op), n in eng.calls.calls.items() if n and op.startswith(("Put", "Remove", "Tag", "Untag"))}
    assert writes == {"PutRule", "PutTargets"}
    assert json.loads(targets(events)["sync"]["Input"]) == {"mode": "quick"}
    assert not eng.plan().has_changes


# --- ownership, destroy ---

def test_foreign_rule_with_our_name_is_refused_and_untouched(spec_path, engine, aws):
    events = aws("events")
    events.put_rule(Name=RULE_NAME, ScheduleExpression="rate(1 day)", Description="someone else's")
    events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "theirs", "Arn": TOPIC_ARN}])
    eng = engine(spec_path)

    with pytest.raises(OwnershipConflict, match=f"{RULE}: event rule '{RULE_NAME}' exists but .*no provisioner"):
        eng.apply()
    assert eng.calls.writes == 0
    rule = events.describe_rule(Name=RULE_NAME)
    assert (rule["ScheduleExpression"], rule["Description"]) == ("rate(1 day)", "someone else's")
    assert list(targets(events)) == ["theirs"]
    assert events.list_tags_for_resource(ResourceARN=RULE_ARN)["Tags"] == []


def test_destroy_removes_rules_targets_and_role_but_not_decoys(applied, aws, engine, spec_path):
    eng, events = applied
    events.put_rule(Name="shop-dev-legacy", ScheduleExpression="rate(1 day)")     # untagged, our name pattern
    events.put_rule(Name="shop-prod-inventory-sync", ScheduleExpression="rate(1 day)", Tags=[
        {"Key": "provisioner:project", "Value": "shop"}, {"Key": "provisioner:environment", "Value": "prod"},
        {"Key": "provisioner:resource", "Value": RULE}])
    assert not eng.plan().has_changes

    plan, outcomes = eng.destroy()
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]
    assert {RULE, "event_rules.order-placed", "iam_roles.inventory-sync-events-role"} <= {
        c.address for c in plan.changes}
    assert sorted(r["Name"] for r in events.list_rules()["Rules"]) == ["shop-dev-legacy", "shop-prod-inventory-sync"]
    assert ROLE_NAME not in [r["RoleName"] for r in aws("iam").list_roles()["Roles"]]


def test_rule_removed_from_spec_takes_its_role_permission_and_policy_statements(applied, aws, engine, write_spec):
    pruned = engine(write_spec(SPEC.split("event_rules:")[0], "pruned.yaml"))
    plan = pruned.plan()
    assert {c.address for c in plan.changes if c.action == "delete"} == {
        RULE, "event_rules.order-placed", "iam_roles.inventory-sync-events-role"}
    # (a topic policy is managed only while something of the spec delivers to the topic: see sns.py)
    updates = {c.address: {d.field for d in c.diffs} for c in plan.changes if c.action == "update"}
    assert updates == {"lambda_functions.product-service": {"permissions"}, "sqs_queues.sync-jobs": {"policy"},
                       "sqs_queues.events-dlq": {"policy"}, "kms_keys.data": {"policy"}}
    pruned.apply()
    assert not pruned.plan().has_changes
    assert aws("events").list_rules()["Rules"] == []


# --- validate (no AWS) ---

def _line(text: str, marker: str) -> int:
    return next(i for i, row in enumerate(text.splitlines(), 1) if marker in row)


@pytest.mark.parametrize("expression, message", [
    ("rate(5 minute)", "write '5 minutes' (singular for 1, plural otherwise)"),
    ("rate(1 hours)", "write '1 hour'"),
    ("rate(0 minutes)", "the rate value must be a whole number of at least 1, got '0'"),
    ("rate(-5 minutes)", "got '-5'"),
    ("rate(5 weeks)", "unknown unit 'weeks'; use minute(s), hour(s) or day(s)"),
    ("rate(5minutes)", "expected rate(VALUE UNIT)"),
    ("cron(0 3 * * ?)", "has 5 fields; EventBridge cron takes 6"),
    ("cron(0 3 * * * *)", "exactly one of day-of-month ('*') and day-of-week ('*') must be '?'"),
    ("cron(0 3 ? * ? *)", "exactly one of day-of-month ('?') and day-of-week ('?') must be '?'"),
    ("cron(0 3 1 * MON *)", "exactly one of day-of-month ('1') and day-of-week ('MON') must be '?'"),
    ("cron(60 3 * * ? *)", "minutes value '60' is out of range 0-59"),
    ("cron(0 24 * * ? *)", "hours value '24' is out of range 0-23"),
    ("cron(0 3 32 * ? *)", "day-of-month value '32' is out of range 1-31"),
    ("cron(0 3 ? 13 MON *)", "month value '13' is out of range 1-12 or JAN-DEC"),
    ("cron(0 3 ? * 8 *)", "day-of-week value '8' is out of range 1-7 or SUN-SAT"),
    ("cron(0 3 ? * FUN *)", "day-of-week value 'FUN' is not valid"),
    ("cron(0 3 * * ? 1969)", "year value '1969' is out of range 1970-2199"),
    ("cron(0/0 3 * * ? *)", "minutes increment '0' must be a whole number of at least 1"),
    ("cron(0 1-25 * * ? *)", "hours value '25' is out of range 0-23"),
    ("cron(0 3 *W * ? *)", "day-of-month value '*' is not valid (expected 1-31)"),
    ("cron(0 3 ? * 2#6 *)", "day-of-week '2#6': the week after # must be 1-5"),
    ("cron(0 3 ? * 9L *)", "day-of-week value '9' is out of range 1-7 or SUN-SAT"),
    ("cron(? 3 * * ? *)", "minutes value '?' is not valid (expected 0-59)"),
    ("at(2030-01-01T00:00:00)", "is neither rate(VALUE UNIT) nor cron("),
])
def test_invalid_schedules_are_explained(expression, message):
    problem = schedule_problem(expression)
    assert problem is not None and message in problem, problem
    assert problem.startswith(f"'{expression}'")


@pytest.mark.parametrize("expression", [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
    "cron(0 3 * * ? *)", "cron(0/15 * * * ? *)", "cron(*/5 8-17 ? * MON-FRI *)", "cron(0 12 L * ? *)",
    "cron(0 9 15W * ? 2025-2030)", "cron(0 18 ? * 6L *)", "cron(0 10 ? * 2#1 *)", "cron(15 10 ? JAN,jul FRI#3 *)",
    "cron(0 0 1 1-12/3 ? *)",
])
def test_valid_schedules_pass(expression):
    assert schedule_problem(expression) is None


def test_bad_schedule_is_a_spec_error_with_its_line(spec_path, write_spec):
    text = SPEC.replace("cron(0 3 * * ? *)", "cron(0 3 * * MON *)").lstrip()
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(text)), default_registry())
    line = _line(text, "schedule:")
    assert f"spec.yaml:{line}: {RULE}.schedule: 'cron(0 3 * * MON *)': exactly one of day-of-month" in str(
        raised.value)


@pytest.mark.parametrize("change, path, message", [
    (("schedule: cron(0 3 * * ? *)", "schedule: cron(0 3 * * ? *)\n    event_pattern: {source: [x]}"),
     RULE, "expected exactly one of: schedule; event_pattern"),
    (("events-dlq: {kms_key: data, retention_seconds: 1209600}", "events-dlq: {fifo: true}"),
     f"{RULE}.targets.sync.dead_letter_queue", "EventBridge dead-letter queues must be standard queues"),
    (("sync-jobs: {}", "sync-jobs: {fifo: true}"), f"{RULE}.targets.jobs.sqs_queue",
     "a FIFO queue target needs a message group id"),
    (("pipeline: {state_machine: pipeline}", "pipeline: {state_machine: pipeline, sns_topic: alerts}"),
     f"{RULE}.targets.pipeline", "expected exactly one of: function; sqs_queue; sns_topic; state_machine"),
    (("jobs: {sqs_queue: sync-jobs}", "jobs: {sqs_queue: nowhere}"), f"{RULE}.targets.jobs.sqs_queue",
     "no resource 'nowhere' in sqs_queues"),
    (("max_attempts: 3", "max_attempts: 186"), f"{RULE}.targets.sync.retry.max_attempts",
     "186 is greater than the maximum of 185"),
])
def test_validate_rejects_rule_mistakes(spec_path, write_spec, change, path, message):
    old, new = change
    assert old in SPEC
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(SPEC.replace(old, new))), default_registry())
    assert any(d.path == path and message in d.message for d in raised.value.diagnostics), [
        str(d) for d in raised.value.diagnostics]


def test_rule_without_targets_is_a_warning(write_spec):
    spec = load_spec(str(write_spec("""
        version: 1
        project: shop
        environment: dev
        event_rules:
          idle: {schedule: rate(1 day)}
    """)), default_registry())
    assert [(d.path, d.message) for d in spec.warnings] == [
        ("event_rules.idle.targets", "the rule has no targets: what it matches goes nowhere")]
