"""Alarm metrics in one comparable shape, shared by desired() and read(): the metric part as `metric`
(single metric) or `metrics` (query id -> query), dimensions as dicts, ReturnData filled in. The
shorthands (error_rate, dlq_depth, throttles, duration_p99, api_error_rate) are compiled here into the
metric or metric math they stand for, and the shape is turned into PutMetricAlarm's parameters.
"""
from __future__ import annotations

from provisioner.spec.refs import Ref

STANDARD_STATISTICS = frozenset({"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
SHORTHANDS = ("error_rate", "dlq_depth", "throttles", "duration_p99", "api_error_rate")
FORMS = ("metric", "metrics") + SHORTHANDS


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


def read_metric(alarm: dict) -> dict:
    """The single metric of a DescribeAlarms answer."""
    return metric(alarm.get("Namespace"), alarm["MetricName"], _dimension_dict(alarm.get("Dimensions")),
                  alarm.get("Statistic") or alarm.get("ExtendedStatistic"), alarm.get("Period"), alarm.get("Unit"))


def read_query(query: dict) -> dict:
    """One metric math query of a DescribeAlarms answer."""
    stat = query.get("MetricStat")
    if stat:
        of = stat["Metric"]
        return metric_query(metric(of.get("Namespace"), of.get("MetricName"), _dimension_dict(of.get("Dimensions")),
                                   stat.get("Stat"), stat.get("Period"), stat.get("Unit")),
                            query.get("ReturnData", True), query.get("Label"))
    return expression_query(query.get("Expression"), query.get("ReturnData", True), query.get("Label"),
                            query.get("Period"))


def metric_request(desired: dict) -> dict:
    """The metric part of a PutMetricAlarm request."""
    single = desired["metric"]
    if not single:
        return {"Metrics": [_query_request(i, q) for i, q in sorted(desired["metrics"].items())]}
    request = {"Namespace": single["namespace"], "MetricName": single["name"],
               "Dimensions": _dimension_list(single["dimensions"]), "Period": single["period"]}
    statistic = "Statistic" if single["statistic"] in STANDARD_STATISTICS else "ExtendedStatistic"
    request[statistic] = single["statistic"]
    if single["unit"]:
        request["Unit"] = single["unit"]
    return request


def _query_request(query_id: str, query: dict) -> dict:
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
