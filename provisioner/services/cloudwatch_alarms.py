"""CloudWatch metric alarms.

Alarms come as a plain metric, as metric math, or as a shorthand compiled into one of those
(provisioner.services.alarm_metrics). desired() and read() share one shape, with the defaults AWS leaves
out of DescribeAlarms (DatapointsToAlarm = EvaluationPeriods, TreatMissingData missing) filled in and
actions sorted.
"""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.services.alarm_metrics import (
    SHORTHANDS,
    alarm_form,
    compile_alarm,
    effective_periods,
    metric_request,
    read_metric,
    read_query,
    return_data_ids,
)
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler
from provisioner.services.delivery import Delivery
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref

ACTION_FIELDS = {"actions": "AlarmActions", "ok_actions": "OKActions",
                 "insufficient_data_actions": "InsufficientDataActions"}
# every compared field but the tags: PutMetricAlarm writes them all at once
ALARM_FIELDS = frozenset({"description", "metric", "metrics", "comparison", "threshold", "periods",
                          "datapoints_to_alarm", "treat_missing_data", "actions_enabled", *ACTION_FIELDS})


class Alarms(Reconciler):
    kind = "alarms"
    service = "cloudwatch"
    name_rule = NameRule(r"[\x20-\x7e]+", 1, 255, "a CloudWatch alarm name", "printable ASCII characters")
    tagging_type = "cloudwatch:alarm"
    rank = 40   # after the queues, functions and APIs they watch and the topics they notify
    delete_tier = 2
    missing = ("ResourceNotFound", "ResourceNotFoundException")
    tag_api = TagApi("cloudwatch", "ResourceARN")
    updates = ((ALARM_FIELDS, "_put_alarm"),)

    # --- spec time ---
    def validate(self, node, spec):
        props, out = node.props, []
        form = alarm_form(props)
        if form in SHORTHANDS:
            for field in ("threshold", "comparison"):
                if field in props:
                    out.append(((field,), f"{form} sets its own {field}; remove it (or write the alarm with "
                                          "metric/metrics)", "error"))
            if "periods" in props and "periods" in props[form]:
                out.append(((form, "periods"), "periods is also set on the alarm; set it in one place", "error"))
        elif "threshold" not in props:
            out.append(((), f"a {form} alarm needs threshold", "error"))
        periods = effective_periods(props)
        if props.get("datapoints_to_alarm", 0) > periods:
            out.append((("datapoints_to_alarm",),
                        f"datapoints_to_alarm {props['datapoints_to_alarm']} exceeds the {periods} evaluated "
                        "period(s)", "error"))
        for path, period in self._periods(props, form):
            if period not in (10, 30) and period % 60:
                out.append((path, f"period {period} must be 10, 30 or a multiple of 60", "error"))
        if form == "metrics" and len(return_data_ids(props["metrics"])) != 1:
            out.append((("metrics",), "exactly one query must return data: mark it with return_data: true "
                                      "(by default the only expression does)", "error"))
        compiled_into = "metric" if form in ("dlq_depth", "throttles", "duration_p99") else "metrics"
        out.extend((("ignore_changes", index), f"{field} is compared as the {compiled_into} it compiles to: "
                                               f"ignore {compiled_into} instead", "error")
                   for index, field in enumerate(node.ignore_changes) if field.split(".", 1)[0] in SHORTHANDS)
        if form == "metric" and (props["metric"]["namespace"], props["metric"]["name"]) == ("AWS/Lambda", "Errors"):
            out.append((("threshold",), "an absolute Errors threshold fires on busy days and misses failures on "
                                        "quiet ones; error_rate: {function: ..., threshold_percent: N} alarms on "
                                        "the error percentage", "warning"))
        return out

    def deliveries(self, node, spec):
        """CloudWatch publishes to the topics of the spec it notifies (their policy and key allow this alarm)."""
        topics = {ref.address for field in ACTION_FIELDS for ref in node.props[field]
                  if isinstance(ref, Ref) and ref.address.startswith("sns_topics.")}
        return [Delivery(topic, "cloudwatch.amazonaws.com", node.address, Ref(node.address, "arn"))
                for topic in sorted(topics)]

    def _periods(self, props, form):
        if form in SHORTHANDS:
            yield (form, "period"), props[form]["period"]
        elif form == "metric":
            yield ("metric", "period"), props["metric"]["period"]
        else:
            for query_id, query in props["metrics"].items():
                if "metric" in query:
                    yield ("metrics", query_id, "metric", "period"), query["metric"]["period"]
                elif "period" in query:
                    yield ("metrics", query_id, "period"), query["period"]

    def arn(self, name, ctx):
        return ctx.aws.arn("cloudwatch", f"alarm:{name}")

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        form = alarm_form(props)
        compiled = compile_alarm(props)
        periods = effective_periods(props)
        return {
            "description": props["description"],
            "metric": compiled.get("metric"),
            "metrics": compiled.get("metrics"),
            "comparison": compiled["comparison"],
            "threshold": float(compiled["threshold"]),
            "periods": periods,
            "datapoints_to_alarm": props.get("datapoints_to_alarm", periods),
            "treat_missing_data": props.get("treat_missing_data", "notBreaching" if form in SHORTHANDS else "missing"),
            "actions_enabled": props["actions_enabled"],
            **{field: list(props[field]) for field in ACTION_FIELDS},
        }

    def normalize(self, desired):
        return {**desired, **{field: sorted(desired[field], key=str) for field in ACTION_FIELDS}}

    # --- read ---
    def read(self, node, ctx):
        name = node.physical_name
        alarm = ctx.memo("alarms", lambda: self._describe_spec_alarms(ctx.client("cloudwatch"), ctx)).get(name)
        if alarm is None:
            return None
        tags = self.read_tags(ctx, alarm["AlarmArn"])
        queries = alarm.get("Metrics") or []
        props = {
            "description": alarm.get("AlarmDescription", ""),
            "metric": read_metric(alarm) if alarm.get("MetricName") else None,
            "metrics": {q["Id"]: read_query(q) for q in queries} if queries else None,
            "comparison": alarm["ComparisonOperator"],
            "threshold": float(alarm["Threshold"]),
            "periods": alarm["EvaluationPeriods"],
            "datapoints_to_alarm": alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]),
            "treat_missing_data": alarm.get("TreatMissingData", "missing"),
            "actions_enabled": alarm.get("ActionsEnabled", True),
            **{field: sorted(alarm.get(key, [])) for field, key in ACTION_FIELDS.items()},
            "tags": tags,
        }
        return Observed(props, {"arn": alarm["AlarmArn"], "name": name}, tags)

    def _describe_spec_alarms(self, client, ctx) -> dict:
        """name -> alarm, for every alarm of the spec: DescribeAlarms takes up to 100 names per call."""
        names = sorted(n.physical_name for n in ctx.spec.nodes.values() if n.kind == self.kind)
        found = {}
        for start in range(0, len(names), 100):
            for page in client.get_paginator("describe_alarms").paginate(AlarmNames=names[start:start + 100]):
                found.update((alarm["AlarmName"], alarm) for alarm in page["MetricAlarms"])
        return found

    # --- write ---
    def _request(self, name: str, desired: dict) -> dict:
        return {
            "AlarmName": name, "AlarmDescription": desired["description"],
            "ComparisonOperator": desired["comparison"], "Threshold": desired["threshold"],
            "EvaluationPeriods": desired["periods"], "DatapointsToAlarm": desired["datapoints_to_alarm"],
            "TreatMissingData": desired["treat_missing_data"], "ActionsEnabled": desired["actions_enabled"],
            **{key: desired[field] for field, key in ACTION_FIELDS.items()},
            **metric_request(desired),
        }

    def create(self, node, desired, ctx):
        name = node.physical_name
        yield Call("cloudwatch", "put_metric_alarm",
                   {**self._request(name, desired), "Tags": self.tag_api.format(desired["tags"])})
        return {"arn": self.arn(name, ctx), "name": name}

    def _put_alarm(self, node, desired, actual, fields, ctx):
        # PutMetricAlarm replaces the whole alarm (Tags only count when it creates one)
        yield Call("cloudwatch", "put_metric_alarm", self._request(node.physical_name, desired),
                   "replace the alarm's " + ", ".join(sorted(fields)))

    # --- delete / discover ---
    def matches_arn(self, arn):
        parts = arn.split(":", 6)
        return len(parts) == 7 and parts[2] == "cloudwatch" and parts[5] == "alarm"

    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.split(":", 6)[6], arn)

    def delete(self, resource, ctx):
        yield Call("cloudwatch", "delete_alarms", {"AlarmNames": [resource.physical_id]}, missing_ok=True)
