"""Processes SQS jobs one record at a time and reports the failed ones (partial batch response): only those
are retried, and after max_receive_count they go to the dead-letter queue."""
from __future__ import annotations

import json


def process(job: dict) -> None:
    if not isinstance(job.get("id"), str) or not job["id"]:
        raise ValueError("a job needs an id")


def handler(event, context):
    failures = []
    for record in event.get("Records", []):
        try:
            process(json.loads(record["body"]))
        except (ValueError, KeyError, TypeError):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
