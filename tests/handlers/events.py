"""Realistic AWS events for the Lambda handler tests, and loading a handler file by path.

The builders take what differs between services as parameters; everything else is the fixed shape AWS sends.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_handler(relative_path: str, module_name: str, monkeypatch):
    """Loads a handler file by path (lambda_code folders are not packages); monkeypatch undoes sys.modules."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    return module


def sqs_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"


def message_id(i: int) -> str:
    """The messageId sqs_event gives its i-th record."""
    return f"059f36b4-87a3-44ab-83d2-66197590{i:04d}"


def s3_record(key: str, size: int = 100, *, bucket: str, configuration_id: str,
              event_name: str = "ObjectCreated:Put", version_id: str | None = None,
              region: str = REGION) -> dict:
    """One record exactly as S3 sends it; the key is URL-encoded with + for spaces.

    version_id is only present for buckets with versioning enabled, as in real notifications.
    """
    obj = {"key": quote_plus(key, safe="/"), "size": size}
    if version_id is not None:
        obj["versionId"] = version_id
    obj.update({"eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"})
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": "2024-03-01T14:35:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:uploader"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def s3_event(*keys: str, **record_options) -> dict:
    """An S3 notification with one record a key; record_options go to s3_record for every record."""
    return {"Records": [s3_record(key, **record_options) for key in keys]}


def s3_test_event(bucket: str) -> dict:
    """What S3 sends once when a notification configuration is saved."""
    return {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-03-01T14:35:00.000Z",
            "Bucket": bucket, "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB"}


def sqs_event(*bodies, queue_arn: str, region: str = REGION) -> dict:
    """An SQS batch as the event source mapping delivers it; str bodies are sent as is, others as JSON."""
    return {"Records": [{
        "messageId": message_id(i),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1709303700000",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                       "ApproximateFirstReceiveTimestamp": "1709303700001"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for i, body in enumerate(bodies)]}


def api_gateway_event(method: str, path: str, *, body=None, query: dict | None = None, stage: str = "prod",
                      resource: str | None = None, path_parameters: dict | None = None,
                      base64_body: bool = False, headers: dict | None = None) -> dict:
    """A REST API Lambda-proxy event (payload format 1.0) as API Gateway sends it.

    body: dict or list (sent as JSON), str or bytes (sent as is), or None. resource defaults to path, as for
    a resource without path parameters. Query values are strings, as API Gateway passes them.
    """
    sent_headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "curl/8.5.0",
                    "X-Forwarded-For": "203.0.113.10", "Content-Type": "application/json"}
    sent_headers.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_body and body is not None:
        body = base64.b64encode(body.encode() if isinstance(body, str) else body).decode()
    elif isinstance(body, bytes):
        body = body.decode()
    resource = resource or path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": sent_headers,
        "multiValueHeaders": {name: [value] for name, value in sent_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/{stage}{path}",
                           "stage": stage, "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                           "accountId": ACCOUNT, "apiId": "abc123", "protocol": "HTTP/1.1",
                           "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def lambda_invoke_result(payload) -> dict:
    """The output of a Step Functions task using arn:aws:states:::lambda:invoke without OutputPath or
    ResultSelector: the function's return value sits under Payload, next to the Invoke response metadata."""
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {"AllHttpHeaders": {"Content-Type": ["application/json"]},
                            "HttpHeaders": {"Content-Type": "application/json"}, "HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": "88fba57b-adbe-467f-abf4-daca36fc9028"},
        "StatusCode": 200,
    }
