"""CloudWatch alarms: the calls of a create, of each update and of a delete, on fake state."""
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  inbox: {}
alarms:
  depth:
    dlq_depth: {queue: inbox}
  backlog:
    metrics:
      sent: {metric: {namespace: AWS/SQS, name: NumberOfMessagesSent, dimensions: {QueueName: q}, statistic: Sum,
                      period: 60}}
      growth: {expression: sent * 2, label: Growth}
    threshold: 100
"""
ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-dev-depth"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": "alarms.depth"}
DEPTH = {"AlarmName": "shop-dev-depth", "AlarmDescription": "", "ComparisonOperator": "GreaterThanThreshold",
         "Threshold": 0.0, "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching",
         "ActionsEnabled": True, "AlarmActions": [], "OKActions": [], "InsufficientDataActions": [],
         "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
         "Dimensions": [{"Name": "QueueName", "Value": "shop-dev-inbox"}], "Period": 300, "Statistic": "Maximum"}


def in_sync(state, address="alarms.depth") -> dict:
    return dict(state.desired(address))


def test_create_is_one_put_metric_alarm_with_the_tags(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("alarms.depth")) == [
        ("cloudwatch:PutMetricAlarm", {**DEPTH, "Tags": [{"Key": k, "Value": v} for k, v in sorted(OWNERSHIP.items())]})]


def test_a_threshold_change_puts_the_whole_alarm_again_without_tags(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "threshold": 5.0}
    assert shown(state.updates("alarms.depth", actual, {"arn": ARN})) == [("cloudwatch:PutMetricAlarm", DEPTH)]


def test_a_metric_math_change_puts_every_query(fake_state):
    state = fake_state(SPEC)
    synced = in_sync(state, "alarms.backlog")
    actual = {**synced, "metrics": {**synced["metrics"], "growth": {**synced["metrics"]["growth"], "label": "Old"}}}
    [(operation, params)] = shown(state.updates("alarms.backlog", actual, {"arn": ARN}))
    assert operation == "cloudwatch:PutMetricAlarm"
    assert params["Metrics"] == [
        {"Id": "growth", "ReturnData": True, "Expression": "sent * 2", "Label": "Growth"},
        {"Id": "sent", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent",
                       "Dimensions": [{"Name": "QueueName", "Value": "q"}]}, "Period": 60, "Stat": "Sum"}}]
    assert "MetricName" not in params and "Tags" not in params


def test_tag_drift_is_an_untag_then_a_tag_call(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates("alarms.depth", actual, {"arn": ARN})) == [
        ("cloudwatch:UntagResource", {"ResourceARN": ARN, "TagKeys": ["stray"]}),
        ("cloudwatch:TagResource", {"ResourceARN": ARN, "Tags": [{"Key": "Project", "Value": "shop"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("alarms.depth", in_sync(state), {"arn": ARN}) == []


def test_delete_is_one_call_that_accepts_an_alarm_already_gone(fake_state):
    state = fake_state(SPEC)
    [operation] = state.deletes("alarms", OwnedResource("alarms", "alarms.depth", "shop-dev-depth", ARN))
    assert (str(operation), operation.params, operation.missing_ok) == (
        "cloudwatch:DeleteAlarms", {"AlarmNames": ["shop-dev-depth"]}, True)
