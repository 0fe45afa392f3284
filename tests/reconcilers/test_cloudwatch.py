"""CloudWatch alarms and dashboards on moto (in-process): compiled metric math, drift, tags, dashboard bodies,
ownership markers, destroy. moto starts every alarm in OK and never changes its state: state is never looked at."""
from __future__ import annotations

import json

import pytest

from provisioner.engine.diff import ABSENT
from provisioner.errors import OwnershipConflict, ProvisionerError, SpecError
from provisioner.services import default_registry
from provisioner.services.cloudwatch_dashboards import Dashboards
from provisioner.spec.model import load_spec
from provisioner.spec.refs import UNKNOWN
from tests.reconcilers.helpers import (
    assert_diff,
    assert_repaired,
    only_change,
    performed,
    run_quartet,
    write_code,
)

SPEC = """
version: 1
project: shop
environment: dev
kms_keys:
  alerts: {}
sns_topics:
  alerts: {kms_key: alerts}
  pager: {kms_key: alerts}
sqs_queues:
  orders: {}
  processing-dlq: {retention_seconds: 1209600}
lambda_functions:
  processor:
    code: code
    handler: app.handler
alarms:
  processor-errors:
    error_rate: {function: processor, threshold_percent: 1, periods: 2, period: 300}
    description: Processor error rate above 1 %
    actions: [alerts]
    ok_actions: [pager]
  dlq-depth:
    dlq_depth: {queue: processing-dlq}
    actions: [alerts]
  throttles:
    throttles: {function: processor, threshold: 1}
  slow:
    duration_p99: {function: processor, threshold_ms: 2000}
    treat_missing_data: missing
  custom:
    metric:
      namespace: AWS/SQS
      name: NumberOfMessagesSent
      dimensions: {QueueName: "${sqs_queues.orders.name}"}
      statistic: Sum
      period: 60
    comparison: LessThanThreshold
    threshold: 1
    periods: 5
    datapoints_to_alarm: 3
    tags: {Team: payments}
  backlog:
    metrics:
      sent:
        metric: {namespace: AWS/SQS, name: NumberOfMessagesSent, dimensions: {QueueName: "${sqs_queues.orders.name}"},
                 statistic: Sum, period: 60}
      deleted:
        metric: {namespace: AWS/SQS, name: NumberOfMessagesDeleted,
                 dimensions: {QueueName: "${sqs_queues.orders.name}"}, statistic: Sum, period: 60}
      growth: {expression: sent - deleted, label: Backlog growth}
    threshold: 100
dashboards:
  main:
    widgets:
      - type: metric
        properties:
          title: Processor
          region: us-east-1
          stat: Sum
          period: 300
          metrics: [[AWS/Lambda, Errors, FunctionName, "${lambda_functions.processor.name}"]]
      - type: alarm
        properties: {title: Alarms, alarms: ["${alarms.processor-errors.arn}"]}
      - type: text
        properties: {markdown: "Orders arrive on ${sqs_queues.orders.name}"}
  raw:
    name: "{project}-{environment}-raw-board"
    body:
      start: -PT6H
      widgets:
        - {type: text, x: 0, y: 0, width: 24, height: 2, properties: {markdown: "# Raw"}}
  ops:
    name: "ops-{environment}-board"
    widgets:
      - {type: text, properties: {markdown: Ops}}
"""
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
ACCOUNT, REGION = "123456789012", "us-east-1"
FUNCTION = "shop-dev-processor"


def topic_arn(name: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:shop-dev-{name}"


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": HANDLER})
    return write_spec(SPEC)


@pytest.fixture
def applied(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    return e


def describe(aws, name: str) -> dict:
    alarm, = aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarm


def body_of(aws, name: str) -> dict:
    return json.loads(aws("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])


def put_modified(aws, name: str, **changes) -> None:
    """Re-put an alarm out of band with some settings changed (PutMetricAlarm replaces the whole alarm)."""
    alarm = describe(aws, name)
    keep = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
            "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
            "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData", "Metrics")
    request = {k: alarm[k] for k in keep if alarm.get(k) not in (None, [])}
    request.update(changes)
    aws("cloudwatch").put_metric_alarm(**request)


# --- alarms ---

def test_quartet(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    names = {a["AlarmName"] for a in aws("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert names == {f"shop-dev-{n}" for n in ("processor-errors", "dlq-depth", "throttles", "slow", "custom",
                                               "backlog")}


def test_error_rate_compiles_to_metric_math(applied, aws):
    alarm = describe(aws, "shop-dev-processor-errors")
    dimensions = [{"Name": "FunctionName", "Value": FUNCTION}]
    assert alarm["Metrics"] == [
        {"Id": "error_rate", "Expression": "IF(invocations > 0, errors / invocations * 100, 0)", "ReturnData": True},
        {"Id": "errors", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                                                   "Dimensions": dimensions}, "Period": 300, "Stat": "Sum"},
         "ReturnData": False},
        {"Id": "invocations", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                        "Dimensions": dimensions}, "Period": 300, "Stat": "Sum"},
         "ReturnData": False},
    ]
    assert "MetricName" not in alarm and "Statistic" not in alarm
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 1.0)
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (2, 2)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [topic_arn("alerts")] and alarm["OKActions"] == [topic_arn("pager")]
    assert alarm["InsufficientDataActions"] == []
    assert alarm["AlarmDescription"] == "Processor error rate above 1 %"


@pytest.mark.parametrize("name, namespace, metric, dimension, statistic, comparison, threshold, missing", [
    ("dlq-depth", "AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName", "shop-dev-processing-dlq"),
     ("Statistic", "Maximum"), "GreaterThanThreshold", 0.0, "notBreaching"),
    ("throttles", "AWS/Lambda", "Throttles", ("FunctionName", FUNCTION), ("Statistic", "Sum"),
     "GreaterThanOrEqualToThreshold", 1.0, "notBreaching"),
    ("slow", "AWS/Lambda", "Duration", ("FunctionName", FUNCTION), ("ExtendedStatistic", "p99"),
     "GreaterThanThreshold", 2000.0, "missing"),
])
def test_single_metric_shorthands(applied, aws, name, namespace, metric, dimension, statistic, comparison,
                                  threshold, missing):
    alarm = describe(aws, f"shop-dev-{name}")
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    assert alarm["Dimensions"] == [{"Name": dimension[0], "Value": dimension[1]}]
    other = "ExtendedStatistic" if statistic[0] == "Statistic" else "Statistic"
    assert alarm[statistic[0]] == statistic[1] and other not in alarm
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Period"]) == (comparison, threshold, 300)
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
    assert alarm["TreatMissingData"] == missing
    assert not alarm["Metrics"]


def test_plain_and_math_alarms(applied, aws):
    custom = describe(aws, "shop-dev-custom")
    assert (custom["Namespace"], custom["MetricName"], custom["Statistic"], custom["Period"]) == (
        "AWS/SQS", "NumberOfMessagesSent", "Sum", 60)
    assert custom["Dimensions"] == [{"Name": "QueueName", "Value": "shop-dev-orders"}]
    assert (custom["ComparisonOperator"], custom["Threshold"]) == ("LessThanThreshold", 1.0)
    assert (custom["EvaluationPeriods"], custom["DatapointsToAlarm"]) == (5, 3)
    assert custom["TreatMissingData"] == "missing"
    backlog = {m["Id"]: m for m in describe(aws, "shop-dev-backlog")["Metrics"]}
    assert backlog["growth"] == {"Id": "growth", "Expression": "sent - deleted", "Label": "Backlog growth",
                                 "ReturnData": True}
    assert backlog["sent"]["ReturnData"] is False and backlog["deleted"]["ReturnData"] is False
    assert backlog["deleted"]["MetricStat"]["Metric"]["MetricName"] == "NumberOfMessagesDeleted"


def test_tags_and_discovery(applied, aws):
    cloudwatch = aws("cloudwatch")
    tags = {t["Key"]: t["Value"] for t in
            cloudwatch.list_tags_for_resource(ResourceARN=alarm_arn("shop-dev-custom"))["Tags"]}
    assert tags["Team"] == "payments"
    assert (tags["provisioner:project"], tags["provisioner:environment"]) == ("shop", "dev")
    assert tags["provisioner:resource"] == "alarms.custom"
    tagged = aws("resourcegroupstaggingapi").get_resources(ResourceTypeFilters=["cloudwatch:alarm"])
    assert len(tagged["ResourceTagMappingList"]) == 6


@pytest.mark.parametrize("changes, path, before, after", [
    ({"Threshold": 5.0}, "threshold", 5.0, 1.0),
    ({"AlarmActions": []}, "actions", [], [topic_arn("alerts")]),
    ({"OKActions": [topic_arn("alerts")]}, "ok_actions", [topic_arn("alerts")], [topic_arn("pager")]),
    ({"TreatMissingData": "breaching"}, "treat_missing_data", "breaching", "notBreaching"),
    ({"EvaluationPeriods": 3, "DatapointsToAlarm": 3}, "periods", 3, 2),
])
def test_alarm_drift_is_detected_and_repaired(applied, aws, changes, path, before, after):
    put_modified(aws, "shop-dev-processor-errors", **changes)
    change = only_change(applied.plan(), "alarms.processor-errors")
    assert_diff(change, path, before, after)
    assert_repaired(applied)
    alarm = describe(aws, "shop-dev-processor-errors")
    assert (alarm["Threshold"], alarm["AlarmActions"], alarm["TreatMissingData"]) == (
        1.0, [topic_arn("alerts")], "notBreaching")
    assert (alarm["OKActions"], alarm["EvaluationPeriods"]) == ([topic_arn("pager")], 2)
    assert len(alarm["Metrics"]) == 3


def test_metric_math_drift_is_field_level(applied, aws):
    alarm = describe(aws, "shop-dev-processor-errors")
    metrics = [dict(m) for m in alarm["Metrics"]]
    metrics[0] = {**metrics[0], "Expression": "errors / invocations * 100"}
    put_modified(aws, "shop-dev-processor-errors", Metrics=metrics)
    change = only_change(applied.plan(), "alarms.processor-errors")
    assert_diff(change, "metrics.error_rate.expression", "errors / invocations * 100",
                "IF(invocations > 0, errors / invocations * 100, 0)")
    assert_repaired(applied)


def test_alarm_tag_drift_is_repaired_with_tag_calls(applied, aws):
    cloudwatch, arn = aws("cloudwatch"), alarm_arn("shop-dev-custom")
    cloudwatch.untag_resource(ResourceARN=arn, TagKeys=["Team"])
    cloudwatch.tag_resource(ResourceARN=arn, Tags=[{"Key": "Extra", "Value": "x"}])
    change = only_change(applied.plan(), "alarms.custom")
    assert {d.path for d in change.diffs} == {"tags.Team", "tags.Extra"}
    assert_diff(change, "tags.Team", ABSENT, "payments")
    assert_diff(change, "tags.Extra", "x", ABSENT)
    applied.apply()
    calls = applied.calls.calls
    assert calls[("cloudwatch", "TagResource")] == 1 and calls[("cloudwatch", "UntagResource")] == 1
    assert calls[("cloudwatch", "PutMetricAlarm")] == 0
    tags = {t["Key"]: t["Value"] for t in cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert tags["Team"] == "payments" and "Extra" not in tags
    assert not applied.plan().has_changes


def test_foreign_alarm_with_the_same_name_is_not_adopted(spec_path, engine, aws):
    aws("cloudwatch").put_metric_alarm(AlarmName="shop-dev-slow", Namespace="X", MetricName="Y", Statistic="Sum",
                                       Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="LessThanThreshold")
    with pytest.raises(OwnershipConflict, match="alarms.slow"):
        engine(spec_path).plan()


# --- dashboards ---

def test_dashboard_body_is_resolved_laid_out_and_marked(applied, aws):
    body = body_of(aws, "shop-dev-main")
    text = json.dumps(body)
    assert "${" not in text
    processor, alarms, note, marker = body["widgets"]
    assert processor["properties"]["metrics"] == [["AWS/Lambda", "Errors", "FunctionName", FUNCTION]]
    assert alarms["properties"]["alarms"] == [alarm_arn("shop-dev-processor-errors")]
    assert note["properties"]["markdown"] == "Orders arrive on shop-dev-orders"
    assert [(w["x"], w["y"], w["width"], w["height"]) for w in (processor, alarms, note)] == [
        (0, 0, 12, 6), (12, 0, 12, 6), (0, 6, 12, 6)]
    assert (marker["type"], marker["x"], marker["y"], marker["width"]) == ("text", 0, 12, 24)
    assert marker["properties"]["markdown"].startswith(
        "Managed by provisioner: project=`shop` environment=`dev` resource=`dashboards.main`")
    raw = body_of(aws, "shop-dev-raw-board")
    assert raw["start"] == "-PT6H"
    assert raw["widgets"][0] == {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
                                 "properties": {"markdown": "# Raw"}}
    assert raw["widgets"][1]["y"] == 2 and "resource=`dashboards.raw`" in raw["widgets"][1]["properties"]["markdown"]


def test_dashboard_drift_is_detected_and_repaired(applied, aws):
    body = body_of(aws, "shop-dev-main")
    body["widgets"][0]["properties"]["title"] = "Edited in the console"
    body["widgets"].insert(2, {"type": "text", "x": 0, "y": 20, "width": 6, "height": 2,
                               "properties": {"markdown": "extra"}})
    aws("cloudwatch").put_dashboard(DashboardName="shop-dev-main", DashboardBody=json.dumps(body))
    change = only_change(applied.plan(), "dashboards.main")
    assert_diff(change, "body.widgets.0.properties.title", "Edited in the console", "Processor")
    assert_repaired(applied)
    assert body_of(aws, "shop-dev-main")["widgets"][0]["properties"]["title"] == "Processor"
    assert len(body_of(aws, "shop-dev-main")["widgets"]) == 4


def test_unresolved_value_is_never_sent(spec_path, aws):
    from provisioner.engine.factory import Factory, Settings
    factory = Factory(Settings(region=REGION))
    spec = factory.load_spec(str(spec_path))
    ctx = factory.context(spec.project, spec.environment, spec)
    node, dashboards = spec.node("dashboards.main"), Dashboards()
    desired = dashboards.desired(node, ctx)
    desired["_body"]["widgets"][0]["properties"] = {"metrics": [["AWS/Lambda", "Errors", "FunctionName", UNKNOWN]]}
    with pytest.raises(ProvisionerError, match=r"dashboard 'shop-dev-main': "
                                               r"body\.widgets\[0\]\.properties\.metrics\[0\]\[3\] is unresolved"):
        performed(dashboards.create(node, dashboards.normalize(desired), ctx), ctx)
    desired["_body"]["widgets"][0]["properties"] = {"markdown": "literal ${sqs_queues.orders.name}"}
    with pytest.raises(ProvisionerError, match=r"body\.widgets\[0\]\.properties\.markdown is unresolved"):
        performed(dashboards.create(node, dashboards.normalize(desired), ctx), ctx)
    assert aws("cloudwatch").list_dashboards()["DashboardEntries"] == []


def test_same_named_dashboard_without_marker_is_a_conflict(spec_path, engine, aws):
    aws("cloudwatch").put_dashboard(DashboardName="shop-dev-main", DashboardBody=json.dumps({"widgets": []}))
    with pytest.raises(OwnershipConflict, match="dashboards.main"):
        engine(spec_path).plan()


def _foreign_dashboards(aws):
    """Dashboards under the environment's prefix that are not ours: no marker, or another environment's."""
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_dashboard(DashboardName="shop-dev-main-copy", DashboardBody=json.dumps(
        {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 1, "properties": {"markdown": "hi"}}]}))
    prod_marker = ("Managed by provisioner: project=`shop` environment=`prod` resource=`dashboards.main`. "
                   "Changes made here are overwritten by the next apply.")
    cloudwatch.put_dashboard(DashboardName="shop-dev-mainx", DashboardBody=json.dumps(
        {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 1,
                      "properties": {"markdown": prod_marker}}]}))
    return {"shop-dev-main-copy", "shop-dev-mainx"}


def test_pruning_removes_only_marked_dashboards(applied, spec_path, aws):
    foreign = _foreign_dashboards(aws)
    text = spec_path.read_text()
    spec_path.write_text(text[:text.index("  raw:\n")])
    plan = applied.plan()
    deletes = {c.address: c for c in plan.pending if c.action == "delete"}
    # ops was named outside {project}-{environment}-: once out of the spec its name is known nowhere, so it stays
    assert set(deletes) == {"dashboards.raw"}, [(c.address, c.action) for c in plan.pending]
    applied.apply()
    names = {d["DashboardName"] for d in aws("cloudwatch").list_dashboards()["DashboardEntries"]}
    assert names == {"shop-dev-main", "ops-dev-board"} | foreign


def test_destroy_removes_alarms_and_managed_dashboards_only(applied, aws):
    foreign = _foreign_dashboards(aws)
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="shop-dev-someone-elses", Namespace="X", MetricName="Y", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="LessThanThreshold")
    plan, outcomes = applied.destroy()
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]
    deleted = {(c.kind, c.physical_name) for c in plan.changes if c.kind in ("alarms", "dashboards")}
    assert {("dashboards", "shop-dev-main"), ("dashboards", "shop-dev-raw-board"),
            ("dashboards", "ops-dev-board")} <= deleted   # ops: found through the spec's names, marker checked
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == ["shop-dev-someone-elses"]
    assert {d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]} == foreign


# --- validation ---

def _spec(text: str, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\nproject: shop\nenvironment: dev\nsns_topics: {alerts: {kms_key: alerts}}\n"
                    "sqs_queues: {jobs: {}}\n" + text + "\nkms_keys: {alerts: {}}\n")
    return path


def test_absolute_lambda_errors_threshold_is_a_warning_with_its_line(tmp_path, capsys):
    from provisioner.cli import main
    path = _spec("alarms:\n"
                 "  errors:\n"
                 "    metric: {namespace: AWS/Lambda, name: Errors, statistic: Sum}\n"
                 "    threshold: 5\n", tmp_path)
    spec = load_spec(str(path), default_registry())
    warning, = spec.warnings
    assert (warning.line, warning.path, warning.severity) == (9, "alarms.errors.threshold", "warning")
    assert "error_rate" in warning.message
    try:
        main(["validate", str(path)])
    except SystemExit as exited:
        assert exited.code in (0, None)
    assert f"{path}:9: warning: alarms.errors.threshold: an absolute Errors threshold" in capsys.readouterr().err


@pytest.mark.parametrize("alarm, path, message", [
    ("dlq_depth: {queue: jobs}\n    threshold: 3", "alarms.a.threshold", "dlq_depth sets its own threshold"),
    ("dlq_depth: {queue: jobs, periods: 2}\n    periods: 3", "alarms.a.dlq_depth.periods", "set it in one place"),
    ("metric: {namespace: AWS/SQS, name: X}", "alarms.a", "a metric alarm needs threshold"),
    ("metric: {namespace: AWS/SQS, name: X}\n    threshold: 1\n    periods: 2\n    datapoints_to_alarm: 3",
     "alarms.a.datapoints_to_alarm", "exceeds the 2 evaluated"),
    ("metric: {namespace: AWS/SQS, name: X, period: 90}\n    threshold: 1", "alarms.a.metric.period",
     "must be 10, 30 or a multiple of 60"),
    ("metrics: {x: {expression: '1'}, y: {expression: '2'}}\n    threshold: 1", "alarms.a.metrics",
     "exactly one query must return data"),
    ("dlq_depth: {queue: jobs}\n    actions: [jobs]", "alarms.a.actions[0]", "no resource 'jobs' in sns_topics"),
    ("dlq_depth: {queue: jobs}\n    error_rate: {function: f, threshold_percent: 1}", "alarms.a",
     "expected exactly one of"),
    ("dlq_depth: {queue: jobs}\n    ignore_changes: [dlq_depth]", "alarms.a.ignore_changes[0]",
     "ignore metric instead"),
])
def test_alarm_validation_errors(tmp_path, alarm, path, message):
    spec_file = _spec(f"alarms:\n  a:\n    {alarm}\n", tmp_path)
    with pytest.raises(SpecError) as caught:
        load_spec(str(spec_file), default_registry())
    assert any(d.path == path and message in d.message for d in caught.value.diagnostics), \
        [(d.path, d.message) for d in caught.value.diagnostics]


def test_dashboard_widget_with_x_but_no_y_is_an_error(tmp_path):
    spec_file = _spec("dashboards:\n  d:\n    widgets:\n      - {type: text, x: 3, properties: {markdown: hi}}\n",
                      tmp_path)
    with pytest.raises(SpecError) as caught:
        load_spec(str(spec_file), default_registry())
    assert [(d.path, d.line) for d in caught.value.diagnostics] == [("dashboards.d.widgets[0]", 9)]


API_SPEC = """
version: 1
project: shop
environment: dev
lambda_functions:
  processor: {code: code, handler: app.handler}
api_gateways:
  upload:
    routes:
      "POST /upload": {function: processor}
alarms:
  api-5xx:
    api_error_rate: {api: upload, threshold_percent: 1}
  api-4xx:
    api_error_rate: {api: upload, status: 4XX, stage: canary, threshold_percent: 10, periods: 3}
"""


def test_api_error_rate_compiles_to_metric_math(write_spec, tmp_path, engine, aws):
    write_code(tmp_path, {"app.py": HANDLER})
    e = engine(write_spec(API_SPEC))
    e.apply()
    assert not e.plan().has_changes
    for name, status, stage, threshold, periods in (("api-5xx", "5XX", "prod", 1.0, 1),
                                                    ("api-4xx", "4XX", "canary", 10.0, 3)):
        alarm = describe(aws, f"shop-dev-{name}")
        dimensions = [{"Name": "ApiName", "Value": "shop-dev-upload"}, {"Name": "Stage", "Value": stage}]
        count, errors = ({"Metric": {"Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": dimensions},
                          "Period": 300, "Stat": "Sum"} for metric in ("Count", f"{status}Error"))
        assert alarm["Metrics"] == [
            {"Id": "count", "MetricStat": count, "ReturnData": False},
            {"Id": "error_rate", "Expression": "IF(count > 0, errors / count * 100, 0)", "ReturnData": True},
            {"Id": "errors", "MetricStat": errors, "ReturnData": False},
        ]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", threshold)
        assert (alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (periods, "notBreaching")


def test_defaults_section_gives_every_alarm_its_actions(tmp_path):
    from provisioner.spec.refs import Ref
    path = _spec("defaults:\n"
                 "  alarms: {actions: [alerts], treat_missing_data: breaching}\n"
                 "alarms:\n"
                 "  depth: {dlq_depth: {queue: jobs}}\n"
                 "  quiet: {dlq_depth: {queue: jobs}, actions: []}\n", tmp_path)
    spec = load_spec(str(path), default_registry())
    depth, quiet = spec.node("alarms.depth"), spec.node("alarms.quiet")
    assert depth.props["actions"] == [Ref("sns_topics.alerts", "arn")] and quiet.props["actions"] == []
    assert depth.props["treat_missing_data"] == "breaching"
    assert depth.deps == {"sns_topics.alerts", "sqs_queues.jobs"} and quiet.deps == {"sqs_queues.jobs"}
