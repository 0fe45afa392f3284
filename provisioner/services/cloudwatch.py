"""CloudWatch metric alarms and dashboards.

Alarms come as a plain metric, as metric math, or as a shorthand (error_rate, dlq_depth, throttles,
duration_p99, api_error_rate) compiled here into the metric or metric math it stands for. desired()
and read() share one shape: the metric part as `metric` (single metric) or `metrics` (query id ->
query), dimensions as dicts, actions sorted, and the defaults AWS leaves out of DescribeAlarms
(DatapointsToAlarm = EvaluationPeriods, TreatMissingData missing, ReturnData true) filled in.

Dashboards cannot be tagged and the Tagging API does not cover them, so ownership is written into the
body: every dashboard gets a one-line text widget at the bottom naming project, environment and
resource (the marker). A dashboard counts as ours only when its marker says so. A same-named
dashboard without it is an ownership conflict, never adopted; discovery (for pruning and destroy)
reads the dashboards named {project}-{environment}-* plus those the spec names, and keeps only the
ones whose marker matches. A dashboard given a name: outside that prefix and later removed from the
spec is therefore not pruned (its name is known nowhere any more); destroy with the spec still finds it.
"""
from __future__ import annotations

import json
import re

from provisioner.aws.errors import unless_missing
from provisioner.errors import ProvisionerError
from provisioner.services.base import (
    Delivery,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    changed_fields,
    retag,
    tags_from_list,
    tags_to_list,
)
from provisioner.spec.loader import format_path
from provisioner.spec.refs import UNKNOWN, Ref, Template

NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException")
STANDARD_STATISTICS = frozenset({"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
SHORTHANDS = ("error_rate", "dlq_depth", "throttles", "duration_p99", "api_error_rate")
FORMS = ("metric", "metrics") + SHORTHANDS
ACTION_FIELDS = {"actions": "AlarmActions", "ok_actions": "OKActions",
                 "insufficient_data_actions": "InsufficientDataActions"}
GRID_COLUMNS, CELL_WIDTH, CELL_HEIGHT = 24, 12, 6
MARKER = re.compile(r"^Managed by provisioner: project=`([^`]+)` environment=`([^`]+)` resource=`([^`]+)`")


# --- alarms: the comparable shape ---

def metric(namespace, name, dimensions, statistic, period, unit=None) -> dict:
    return {"namespace": namespace, "name": name, "dimensions": dict(dimensions), "statistic": statistic,
            "period": period, "unit": unit}


def metric_query(of: dict, return_data: bool = False, label=None) -> dict:
    return {"metric": of, "expression": None, "label": label, "period": None, "return_data": return_data}


def expression_query(expression: str, return_data: bool = True, label=None, period=None) -> dict:
    return {"metric": None, "expression": expression, "label": label, "period": period, "return_data": return_data}


def alarm_form(props: dict) -> str:
    return next(form for form in FORMS if form in props)


def effective_periods(props: dict) -> int:
    form = alarm_form(props)
    inner = props[form].get("periods") if form in SHORTHANDS else None
    return inner or props.get("periods") or 1


def return_data_ids(queries: dict) -> set:
    """Ids whose value the alarm watches: those marked return_data, else the only expression."""
    marked = {i for i, q in queries.items() if q.get("return_data")}
    if marked or any("return_data" in q for q in queries.values()):
        return marked
    expressions = [i for i, q in queries.items() if "expression" in q]
    return set(expressions) if len(expressions) == 1 else set()


def _rate(total_id: str, total: dict, errors: dict, threshold_percent) -> dict:
    return {"metrics": {total_id: metric_query(total), "errors": metric_query(errors),
                        "error_rate": expression_query(f"IF({total_id} > 0, errors / {total_id} * 100, 0)")},
            "comparison": "GreaterThanThreshold", "threshold": threshold_percent}


def _name_of(ref) -> Ref:
    """A typed reference (resolved to the ARN by default) turned into the target's physical name."""
    return Ref(ref.address, "name")


def compile_alarm(props: dict) -> dict:
    """The metric part of an alarm: {metric | metrics, comparison, threshold}."""
    form = alarm_form(props)
    short = props.get(form)
    if form in ("metric", "metrics"):
        compiled = {"comparison": props.get("comparison", "GreaterThanThreshold"), "threshold": props["threshold"]}
        if form == "metric":
            return {**compiled, "metric": _spec_metric(short)}
        returning = return_data_ids(short)
        return {**compiled, "metrics": {i: _spec_query(q, i in returning) for i, q in short.items()}}
    period = short["period"]
    if form == "error_rate":
        dimensions = {"FunctionName": _name_of(short["function"])}
        return _rate("invocations", metric("AWS/Lambda", "Invocations", dimensions, "Sum", period),
                     metric("AWS/Lambda", "Errors", dimensions, "Sum", period), short["threshold_percent"])
    if form == "api_error_rate":
        api = short["api"]
        dimensions = {"ApiName": _name_of(api), "Stage": short.get("stage", Ref(api.address, "stage"))}
        return _rate("count", metric("AWS/ApiGateway", "Count", dimensions, "Sum", period),
                     metric("AWS/ApiGateway", f"{short['status']}Error", dimensions, "Sum", period),
                     short["threshold_percent"])
    if form == "dlq_depth":
        return {"metric": metric("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                 {"QueueName": _name_of(short["queue"])}, "Maximum", period),
                "comparison": "GreaterThanThreshold", "threshold": short["threshold"]}
    dimensions = {"FunctionName": _name_of(short["function"])}
    if form == "throttles":
        return {"metric": metric("AWS/Lambda", "Throttles", dimensions, "Sum", period),
                "comparison": "GreaterThanOrEqualToThreshold", "threshold": short["threshold"]}
    return {"metric": metric("AWS/Lambda", "Duration", dimensions, "p99", period),   # duration_p99
            "comparison": "GreaterThanThreshold", "threshold": short["threshold_ms"]}


def _spec_metric(spec_metric: dict) -> dict:
    return metric(spec_metric["namespace"], spec_metric["name"], spec_metric["dimensions"],
                  spec_metric["statistic"], spec_metric["period"], spec_metric.get("unit"))


def _spec_query(query: dict, return_data: bool) -> dict:
    if "metric" in query:
        return metric_query(_spec_metric(query["metric"]), return_data, query.get("label"))
    return expression_query(query["expression"], return_data, query.get("label"), query.get("period"))


def _dimension_list(dimensions: dict) -> list:
    return [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]


def _dimension_dict(items) -> dict:
    return {d["Name"]: d["Value"] for d in items or []}


class Alarms(Reconciler):
    kind = "alarms"
    service = "cloudwatch"
    attributes = frozenset({"arn", "name"})
    name_rule = NameRule(r"[\x20-\x7e]+", 1, 255, "a CloudWatch alarm name", "printable ASCII characters")
    tagging_type = "cloudwatch:alarm"
    rank = 40   # after the queues, functions and APIs they watch and the topics they notify
    delete_tier = 2

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

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "arn": self.arn(node.physical_name, ctx)}

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
            "tags": ctx.tags_for(node),
        }

    def normalize(self, desired):
        return {**desired, **{field: sorted(desired[field], key=str) for field in ACTION_FIELDS}}

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("cloudwatch")
        name = node.physical_name
        alarm = ctx.memo("alarms", lambda: self._describe_spec_alarms(client, ctx)).get(name)
        if alarm is None:
            return None
        tags = ctx.tags_of(alarm["AlarmArn"], lambda: tags_from_list(
            client.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags")))
        queries = alarm.get("Metrics") or []
        props = {
            "description": alarm.get("AlarmDescription", ""),
            "metric": self._read_metric(alarm) if alarm.get("MetricName") else None,
            "metrics": {q["Id"]: self._read_query(q) for q in queries} if queries else None,
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

    def _read_metric(self, alarm) -> dict:
        return metric(alarm.get("Namespace"), alarm["MetricName"], _dimension_dict(alarm.get("Dimensions")),
                      alarm.get("Statistic") or alarm.get("ExtendedStatistic"), alarm.get("Period"), alarm.get("Unit"))

    def _read_query(self, query) -> dict:
        stat = query.get("MetricStat")
        if stat:
            of = stat["Metric"]
            return metric_query(metric(of.get("Namespace"), of.get("MetricName"), _dimension_dict(of.get("Dimensions")),
                                       stat.get("Stat"), stat.get("Period"), stat.get("Unit")),
                                query.get("ReturnData", True), query.get("Label"))
        return expression_query(query.get("Expression"), query.get("ReturnData", True), query.get("Label"),
                                query.get("Period"))

    # --- write ---
    def _request(self, name: str, desired: dict) -> dict:
        request = {
            "AlarmName": name, "AlarmDescription": desired["description"],
            "ComparisonOperator": desired["comparison"], "Threshold": desired["threshold"],
            "EvaluationPeriods": desired["periods"], "DatapointsToAlarm": desired["datapoints_to_alarm"],
            "TreatMissingData": desired["treat_missing_data"], "ActionsEnabled": desired["actions_enabled"],
            **{key: desired[field] for field, key in ACTION_FIELDS.items()},
        }
        single = desired["metric"]
        if single:
            request.update(Namespace=single["namespace"], MetricName=single["name"],
                           Dimensions=_dimension_list(single["dimensions"]), Period=single["period"])
            statistic = "Statistic" if single["statistic"] in STANDARD_STATISTICS else "ExtendedStatistic"
            request[statistic] = single["statistic"]
            if single["unit"]:
                request["Unit"] = single["unit"]
        else:
            request["Metrics"] = [self._query_request(i, q) for i, q in sorted(desired["metrics"].items())]
        return request

    def _query_request(self, query_id: str, query: dict) -> dict:
        out = {"Id": query_id, "ReturnData": query["return_data"]}
        of = query["metric"]
        if of:
            out["MetricStat"] = {"Metric": {"Namespace": of["namespace"], "MetricName": of["name"],
                                            "Dimensions": _dimension_list(of["dimensions"])},
                                 "Period": of["period"], "Stat": of["statistic"]}
            if of["unit"]:
                out["MetricStat"]["Unit"] = of["unit"]
        else:
            out["Expression"] = query["expression"]
            if query["period"]:
                out["Period"] = query["period"]
        if query["label"]:
            out["Label"] = query["label"]
        return out

    def create(self, node, desired, ctx):
        name = node.physical_name
        ctx.client("cloudwatch").put_metric_alarm(**self._request(name, desired), Tags=tags_to_list(desired["tags"]))
        return {"arn": self.arn(name, ctx), "name": name}

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("cloudwatch")
        fields = changed_fields(diffs)
        if fields - {"tags"}:
            # PutMetricAlarm replaces the whole alarm (Tags only count when it creates one)
            client.put_metric_alarm(**self._request(node.physical_name, desired))
        if "tags" in fields:
            arn = actual.outputs["arn"]
            retag(desired["tags"], actual.props["tags"],
                  lambda keys: client.untag_resource(ResourceARN=arn, TagKeys=keys),
                  lambda tags: client.tag_resource(ResourceARN=arn, Tags=tags_to_list(tags)))
        return {}

    # --- delete / discover ---
    def matches_arn(self, arn):
        parts = arn.split(":", 6)
        return len(parts) == 7 and parts[2] == "cloudwatch" and parts[5] == "alarm"

    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.split(":", 6)[6], arn)

    def delete(self, resource, ctx):
        unless_missing(ctx.client("cloudwatch").delete_alarms, *NOT_FOUND, AlarmNames=[resource.physical_id])


# --- dashboards ---

def layout(widgets: list) -> list:
    """Widgets with x/y keep them; the others flow below them in rows of 24 columns (12 x 6 each by default,
    so a 2-column grid), in the order written. Deterministic: the same widgets give the same body."""
    widgets = [{"width": CELL_WIDTH, "height": CELL_HEIGHT, **w} for w in widgets]
    placed = [w for w in widgets if "x" in w and "y" in w]
    x, y, row_height = 0, bottom(placed), 0
    for widget in widgets:
        if "x" in widget and "y" in widget:
            continue
        if x and x + widget["width"] > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        widget["x"], widget["y"] = x, y
        x += widget["width"]
        row_height = max(row_height, widget["height"])
    return widgets


def bottom(widgets: list) -> int:
    return max((w["y"] + w["height"] for w in widgets), default=0)


def marker_widget(project: str, environment: str, address: str, y: int) -> dict:
    text = (f"Managed by provisioner: project=`{project}` environment=`{environment}` resource=`{address}`. "
            "Changes made here are overwritten by the next apply.")
    return {"type": "text", "x": 0, "y": y, "width": GRID_COLUMNS, "height": 1,
            "properties": {"markdown": text}}


def marker_tags(body) -> dict:
    """The ownership the marker widget of a dashboard body states, as ownership tags ({} without one)."""
    widgets = body.get("widgets") if isinstance(body, dict) else None
    for widget in widgets if isinstance(widgets, list) else []:
        if not isinstance(widget, dict) or widget.get("type") != "text":
            continue
        properties = widget.get("properties")
        markdown = properties.get("markdown") if isinstance(properties, dict) else None
        match = MARKER.match(markdown) if isinstance(markdown, str) else None
        if match:
            return {"provisioner:project": match.group(1), "provisioner:environment": match.group(2),
                    "provisioner:resource": match.group(3)}
    return {}


def comparable(body):
    """The body with its widgets keyed by position, so drift reads body.widgets.2.properties.title."""
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return body
    return {**body, "widgets": {str(index): widget for index, widget in enumerate(body["widgets"])}}


def unresolved(value, path=()):
    """(path, value) of the first value that must not reach AWS: unknown, a reference, or text with ${."""
    if value is UNKNOWN or isinstance(value, (Ref, Template)):
        return path, value
    if isinstance(value, str):
        return (path, value) if "${" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "${" in key:
            return path + (key,), key
        found = unresolved(item, path + (key,))
        if found:
            return found
    return None


def _parse_body(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


class Dashboards(Reconciler):
    taggable = False   # ownership lives in a marker, not in tags
    kind = "dashboards"
    service = "cloudwatch"
    attributes = frozenset({"arn", "name"})
    name_rule = NameRule(r"[A-Za-z0-9_-]+", 1, 255, "a CloudWatch dashboard name", "letters, digits, '_' and '-'")
    rank = 45   # after the alarms its alarm widgets may show
    delete_tier = 2

    def validate(self, node, spec):
        widgets = node.props["widgets"] if "widgets" in node.props else node.props["body"]["widgets"]
        where = ("widgets",) if "widgets" in node.props else ("body", "widgets")
        out = [(where + (index,), "give x and y together (or neither: the widget is then laid out in the grid)",
                "error") for index, widget in enumerate(widgets) if ("x" in widget) != ("y" in widget)]
        out.extend((("ignore_changes", index), "the compared field is body (e.g. body.widgets.0)", "error")
                   for index, field in enumerate(node.ignore_changes) if field.split(".", 1)[0] == "widgets")
        return out

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "arn": self.arn(node.physical_name, ctx)}

    def arn(self, name, ctx):
        return ctx.aws.arn("cloudwatch", f"dashboard/{name}", region=False)

    def desired(self, node, ctx):
        props = node.props
        body = dict(props["body"]) if "body" in props else {"widgets": props["widgets"]}
        widgets = layout(body["widgets"])
        widgets.append(marker_widget(ctx.owner.project, ctx.owner.environment, node.address, bottom(widgets)))
        return {"body": None, "_body": {**body, "widgets": widgets}}

    def normalize(self, desired):
        return {**desired, "body": comparable(desired["_body"])}

    def read(self, node, ctx):
        found = unless_missing(ctx.client("cloudwatch").get_dashboard, *NOT_FOUND, DashboardName=node.physical_name)
        if found is None:
            return None
        body = _parse_body(found["DashboardBody"])
        return Observed({"body": comparable(body)}, {"arn": found["DashboardArn"], "name": node.physical_name},
                        marker_tags(body))

    def create(self, node, desired, ctx):
        return self._put(node, desired, ctx)

    def update(self, node, desired, actual, diffs, ctx):
        return self._put(node, desired, ctx)

    def _put(self, node, desired, ctx):
        name, body = node.physical_name, desired["_body"]
        found = unresolved(body)
        if found:
            path, value = found
            raise ProvisionerError(f"dashboard '{name}': body.{format_path(path)} is unresolved ({value}); "
                                   "nothing was sent")
        response = ctx.client("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=json.dumps(body, sort_keys=True, separators=(",", ":")))
        for message in response.get("DashboardValidationMessages", []):
            ctx.warn(f"{node.address}: {message.get('DataPath', '')}: {message.get('Message', '')}")
        return {"arn": self.arn(name, ctx), "name": name}

    # --- delete / discover ---
    def discover(self, ctx):
        client = ctx.client("cloudwatch")
        nodes = [node for node in (ctx.spec.nodes.values() if ctx.spec else []) if node.kind == self.kind]
        names = {node.physical_name for node in nodes}
        prefix = f"{ctx.owner.project}-{ctx.owner.environment}-"
        for page in client.get_paginator("list_dashboards").paginate(DashboardNamePrefix=prefix):
            names.update(entry["DashboardName"] for entry in page.get("DashboardEntries", []))
        names -= {node.physical_name for node in nodes if node.address in ctx.read_in_plan}   # read by the plan
        owned = []
        for name in sorted(names):
            found = unless_missing(client.get_dashboard, *NOT_FOUND, DashboardName=name)
            tags = marker_tags(_parse_body(found["DashboardBody"])) if found else {}
            if ctx.owner.owns(tags):
                owned.append(OwnedResource(self.kind, tags["provisioner:resource"], name, found["DashboardArn"]))
        return owned

    def delete(self, resource, ctx):
        client = ctx.client("cloudwatch")
        name = resource.physical_id
        found = unless_missing(client.get_dashboard, *NOT_FOUND, DashboardName=name)
        if found is None:
            return
        # between discovery and now someone may have put another dashboard under this name
        if not ctx.owner.owns(marker_tags(_parse_body(found["DashboardBody"]))):
            raise ProvisionerError(f"dashboard '{name}' no longer carries this environment's marker; not deleting it")
        unless_missing(client.delete_dashboards, *NOT_FOUND, DashboardNames=[name])
