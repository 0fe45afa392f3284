"""Analytics processor: turns queued transactions into CloudWatch metrics.

Handler: ``analytics.handler``. Triggered by the analytics queue (SQS event source mapping with
ReportBatchItemFailures). Each message body is {"version": 1, "transaction": {...}} as the validator
sends it (see transaction.py).

The valid transactions of a batch are grouped by currency and type, and each group is written as one
CloudWatch embedded-metric-format (EMF) log line, which CloudWatch turns into metrics without any API
call (so the function needs no cloudwatch:PutMetricData):

    namespace   METRICS_NAMESPACE (default Transactions)
    dimensions  Service (this function's name), Currency, Type
    metrics     TransactionCount (Count), TransactionAmount (sum of the amounts), LargestTransaction

Metric values are doubles in CloudWatch; the exact Decimal sum is logged next to them as
TransactionAmountExact (a string), for Logs Insights. Amounts of different currencies are never added.

A message that is not a valid transaction message is logged and returned in
{"batchItemFailures": [{"itemIdentifier": messageId}]}: only it is received again, and after the queue's
max_receive_count it moves to the analytics dead-letter queue. An event that is not an SQS batch raises.
SQS delivers at least once, so a redelivered message is counted again (the metrics are statistics, not
the ledger, which is the transactions table).

Environment:
    METRICS_NAMESPACE  default Transactions
    LOG_LEVEL          DEBUG, INFO (default), WARNING or ERROR
"""
from __future__ import annotations

import json
import os
import time
from decimal import Decimal

from transaction import batch_transactions, log, sqs_records

DEFAULT_NAMESPACE = "Transactions"


def handler(event, context):
    records = sqs_records(event)
    valid, failures = batch_transactions(records)
    groups = {}
    for _, txn in valid:
        group = groups.setdefault((txn["currency"], txn["type"]), {"count": 0, "amount": Decimal(0),
                                                                   "largest": Decimal(0)})
        group["count"] += 1
        group["amount"] += txn["amount"]
        group["largest"] = max(group["largest"], txn["amount"])

    service = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "analytics-processor")
    namespace = os.environ.get("METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    timestamp = int(time.time() * 1000)
    for (currency, kind), group in sorted(groups.items()):
        print(json.dumps(emf_document(namespace, service, currency, kind, group, timestamp), sort_keys=True))
    log("INFO", status="processed", records=len(records), valid=len(records) - len(failures),
        invalid=len(failures), groups=len(groups))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def emf_document(namespace: str, service: str, currency: str, kind: str, group: dict, timestamp: int) -> dict:
    return {
        "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": [["Service", "Currency", "Type"]],
            "Metrics": [{"Name": "TransactionCount", "Unit": "Count"},
                        {"Name": "TransactionAmount", "Unit": "None"},
                        {"Name": "LargestTransaction", "Unit": "None"}],
        }]},
        "Service": service,
        "Currency": currency,
        "Type": kind,
        "TransactionCount": group["count"],
        "TransactionAmount": float(group["amount"]),
        "LargestTransaction": float(group["largest"]),
        "TransactionAmountExact": format(group["amount"], "f"),
    }
