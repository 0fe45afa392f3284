"""Reporting processor: writes queued transactions into the logs bucket as JSON-lines reports.

Handler: ``reporting.handler``. Triggered by the reporting queue (SQS event source mapping with
ReportBatchItemFailures). Each message body is {"version": 1, "transaction": {...}} as the validator
sends it (see transaction.py).

The valid transactions of a batch are grouped by the UTC day of their created_at, and each day becomes
one object

    s3://REPORT_BUCKET/REPORT_PREFIX date=YYYY-MM-DD/<digest>.jsonl

with one JSON object per line (the transaction with its amount as a decimal string, plus the SQS
message_id), sorted by created_at and transaction_id. <digest> is derived from the message ids of the
group, so a batch that is delivered again overwrites its own object instead of duplicating it. The
bucket's default encryption (SSE-KMS) applies. Under the default prefix logs/reports/ the bucket's
lifecycle moves reports to Glacier after 7 days and deletes them after 365.

A message that is not a valid transaction message is logged and returned in
{"batchItemFailures": [{"itemIdentifier": messageId}]}, and so is every message of a day whose object
could not be written: only those are received again, and after the queue's max_receive_count they move
to the reporting dead-letter queue. If S3 refuses every object of the batch the error is raised instead,
so that the invocation counts in the function's Errors metric. An event that is not an SQS batch raises.

Environment:
    REPORT_BUCKET   bucket name (required)
    REPORT_PREFIX   default logs/reports/
    LOG_LEVEL       DEBUG, INFO (default), WARNING or ERROR
"""
from __future__ import annotations

import hashlib
import json
import os

import boto3
import transaction
from botocore.exceptions import ClientError
from transaction import batch_transactions, log, sqs_records

DEFAULT_PREFIX = "logs/reports/"

s3 = boto3.client("s3")


def handler(event, context):
    records = sqs_records(event)
    valid, failures = batch_transactions(records)
    days = {}
    for message_id, txn in valid:
        days.setdefault(txn["created_at"][:10], []).append((message_id, txn))

    bucket = os.environ["REPORT_BUCKET"]
    prefix = os.environ.get("REPORT_PREFIX", DEFAULT_PREFIX)
    written, last_error = [], None
    for day, entries in sorted(days.items()):
        key = report_key(prefix, day, [message_id for message_id, _ in entries])
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=report_body(entries).encode("utf-8"),
                          ContentType="application/x-ndjson")
        except ClientError as failure:
            last_error = failure
            failures.extend(message_id for message_id, _ in entries)
            log("ERROR", status="write failed", bucket=bucket, key=key,
                code=failure.response["Error"]["Code"], records=len(entries))
            continue
        written.append(key)
    if last_error is not None and not written:
        raise last_error
    log("INFO", status="processed", records=len(records), reported=len(records) - len(failures),
        failed=len(failures), objects=written)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def report_key(prefix: str, day: str, message_ids: list) -> str:
    digest = hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()[:32]
    return f"{prefix}date={day}/{digest}.jsonl"


def report_body(entries: list) -> str:
    rows = sorted(entries, key=lambda entry: (entry[1]["created_at"], entry[1]["transaction_id"]))
    return "".join(json.dumps({**transaction.to_json(txn), "message_id": message_id}, sort_keys=True) + "\n"
                   for message_id, txn in rows)
