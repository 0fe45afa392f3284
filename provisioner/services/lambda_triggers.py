"""A function's triggers: event source mappings from SQS queues and DynamoDB streams, checked against the
queue or table of the spec, read by source ARN, and created, updated or deleted one by one."""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.services.lambda_code import code_folder
from provisioner.spec.refs import Ref
from provisioner.spec.runtimes import handler_source


def unqualified(function_arn: str) -> str:
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME[:VERSION or ALIAS] -> the ARN without the qualifier."""
    return ":".join(function_arn.split(":")[:7])


def check_trigger(node, trigger, spec):
    """(path in the trigger, message, severity) of each problem of one trigger."""
    path = node.props["code"]["path"]
    folder = code_folder(spec, path) if path else None
    source = handler_source(folder, node.props["runtime"], node.props["handler"]) if folder else None
    if trigger["report_batch_item_failures"] and source is not None and "batchItemFailures" not in source:
        yield ("report_batch_item_failures",), (
            f"is on, but {node.props['handler']} never mentions batchItemFailures: Lambda then reads "
            "the handler's return value as a partial batch response (none or an empty list: the whole batch "
            "succeeded, so a failure must raise); return {'batchItemFailures': [{'itemIdentifier': id}]} for "
            "failed records, or set report_batch_item_failures: false"), "warning"
    if "sqs_queue" in trigger:
        queue = spec.nodes.get(trigger["sqs_queue"].address)
        if trigger["batch_size"] > 10 and not trigger["batching_window_seconds"]:
            yield ("batch_size",), "an SQS batch_size above 10 needs batching_window_seconds of at least 1", \
                "error"
        if queue is not None:
            visibility, timeout = queue.props["visibility_timeout"], node.props["timeout"]
            if visibility < timeout:
                yield ("sqs_queue",), (f"queue {queue.name} has visibility_timeout {visibility}s, less than the "
                                       f"function's timeout {timeout}s: Lambda rejects the mapping"), "error"
            elif visibility < 6 * timeout:
                yield ("sqs_queue",), (f"queue {queue.name} has visibility_timeout {visibility}s; AWS advises "
                                       f"at least 6 x the function timeout ({6 * timeout}s)"), "warning"
    else:
        table = spec.nodes.get(trigger["dynamodb_table"].address)
        if table is not None and table.props.get("stream") == "disabled":
            yield ("dynamodb_table",), f"table {table.name} has no stream (set stream:)", "error"
        if "maximum_concurrency" in trigger:
            yield ("maximum_concurrency",), "maximum_concurrency applies to SQS triggers only", "error"


def desired_trigger(trigger) -> dict:
    source = trigger.get("sqs_queue") or Ref(trigger["dynamodb_table"].address, "stream_arn")
    settings = {"batch_size": trigger["batch_size"], "batching_window_seconds": trigger["batching_window_seconds"],
                "report_batch_item_failures": trigger["report_batch_item_failures"],
                "enabled": trigger["enabled"]}
    if "sqs_queue" in trigger:
        settings["maximum_concurrency"] = trigger.get("maximum_concurrency")
    else:
        settings.update(starting_position=trigger["starting_position"],
                        maximum_retry_attempts=trigger.get("maximum_retry_attempts", -1),
                        bisect_on_error=trigger["bisect_on_error"])
    return {"source": source, **settings}


def triggers_by_source(desired_triggers: list) -> dict:
    """The desired triggers in read_triggers' shape: settings by source ARN."""
    return {t["source"]: {k: v for k, v in t.items() if k not in ("source", "starting_position")}
            for t in desired_triggers}


def read_triggers(ctx, function_arn) -> tuple[dict, dict]:
    """Event source mappings by source ARN, and their UUIDs (what updates and deletes need).

    Only the mappings of the function itself (its unqualified ARN), the ones this tool creates: a
    mapping of one of its versions or of its alias is left out."""
    out, ids = {}, {}
    for mapping in mappings_by_function(ctx).get(unqualified(function_arn), []):
        settings = {
            "batch_size": mapping.get("BatchSize"),
            "batching_window_seconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
            "report_batch_item_failures": "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
            "enabled": mapping.get("State") in ("Enabled", "Enabling", "Creating", "Updating"),
        }
        ids[mapping["EventSourceArn"]] = mapping["UUID"]
        if ":sqs:" in mapping["EventSourceArn"]:
            settings["maximum_concurrency"] = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
        else:
            settings.update(maximum_retry_attempts=mapping.get("MaximumRetryAttempts", -1),
                            bisect_on_error=mapping.get("BisectBatchOnFunctionError", False))
        out[mapping["EventSourceArn"]] = settings
    return out, ids


def mappings_by_function(ctx) -> dict:
    """{FunctionArn: [mapping]} of every event source mapping of the region, listed once per run: one
    paginated listing instead of one ListEventSourceMappings per function."""
    def list_all():
        by_function: dict = {}
        # AWS answers at most 100 mappings a page, whatever MaxItems asks
        pages = ctx.client("lambda").get_paginator("list_event_source_mappings").paginate(
            PaginationConfig={"PageSize": 100})
        for page in pages:
            for mapping in page["EventSourceMappings"]:
                by_function.setdefault(mapping["FunctionArn"], []).append(mapping)
        return by_function
    return ctx.memo("event_source_mappings", list_all)


def mappings_of(ctx, name: str) -> list:
    """The event source mappings of one function, for its delete."""
    pages = ctx.client("lambda").get_paginator("list_event_source_mappings").paginate(FunctionName=name)
    return [mapping for page in pages for mapping in page["EventSourceMappings"]]


def trigger_request(trigger) -> dict:
    request = {"BatchSize": trigger["batch_size"], "Enabled": trigger["enabled"],
               "MaximumBatchingWindowInSeconds": trigger["batching_window_seconds"],
               "FunctionResponseTypes": ["ReportBatchItemFailures"] if trigger["report_batch_item_failures"]
               else []}
    if "maximum_concurrency" in trigger:
        if trigger["maximum_concurrency"]:
            request["ScalingConfig"] = {"MaximumConcurrency": trigger["maximum_concurrency"]}
    else:
        request.update(MaximumRetryAttempts=trigger["maximum_retry_attempts"],
                       BisectBatchOnFunctionError=trigger["bisect_on_error"])
    return request


def create_trigger(name, source, trigger, desired) -> Call:
    request = {"FunctionName": name, "EventSourceArn": source, **trigger_request(trigger)}
    start = next((t.get("starting_position") for t in desired["_triggers"] if t["source"] == source), None)
    if start:
        request["StartingPosition"] = start
    return Call("lambda", "create_event_source_mapping", request, f"trigger from {source}")


def update_triggers(name, desired, have):
    found, ids = have["triggers"], have["_mapping_ids"]
    for source in sorted(set(found) - set(desired["triggers"])):
        yield Call("lambda", "delete_event_source_mapping", {"UUID": ids[source]}, f"remove the trigger from {source}")
    for source, trigger in desired["triggers"].items():
        if source not in found:
            yield create_trigger(name, source, trigger, desired)
        elif found[source] != trigger:
            yield Call("lambda", "update_event_source_mapping",
                       {"UUID": ids[source], "FunctionName": name, **trigger_request(trigger)},
                       f"update the trigger from {source}")
