"""The serverless-app items API handler (app.lambda_handler), run in-process against moto's mock_aws with
the API Gateway REST proxy events AWS sends, including malformed ones."""
from __future__ import annotations

import base64
import json
from decimal import Decimal
from types import SimpleNamespace

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.handlers.events import ACCOUNT, REGION, load_handler

TABLE = "serverless-app-dev-items"
FUNCTION = "serverless-app-dev-app"


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture
def cloud(monkeypatch):
    with mock_aws():
        table = boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                       {"AttributeName": "timestamp", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                  {"AttributeName": "timestamp", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("TABLE_NAME", TABLE)
        for name in ("METRICS_NAMESPACE", "SERVICE_NAME", "LOG_LEVEL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-65e1e8a4-3f1c2b0a9d8e7f6a5b4c3d2e;Parent=53995c3f42cd8ad8;Sampled=1")
        yield SimpleNamespace(table=table)


@pytest.fixture
def app(cloud, monkeypatch):
    return load_handler("lambda_code/serverless_app/app.py", "serverless_app_handler_under_test", monkeypatch)


CONTEXT = SimpleNamespace(aws_request_id="8f6c1a2e-3b4d-4e5f-9a0b-1c2d3e4f5a6b", function_name=FUNCTION,
                          function_version="3", memory_limit_in_mb=256,
                          invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}:live")


# --- events --------------------------------------------------------------------------------------------

def api_event(method: str, resource: str, path: str, body=None, query=None, path_params=None,
              base64_body: bool = False, stage_variables=None) -> dict:
    """A REST API Lambda-proxy event, payload format 1.0, as the v1 stage sends it."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "curl/8.5.0",
               "Content-Type": "application/json", "X-Forwarded-For": "203.0.113.10",
               "X-Amzn-Trace-Id": "Root=1-65e1e8a4-3f1c2b0a9d8e7f6a5b4c3d2e"}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_body and body is not None:
        body = base64.b64encode(body.encode() if isinstance(body, str) else body).decode()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params,
        "stageVariables": {"logLevel": "INFO"} if stage_variables is None else stage_variables,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/v1{path}",
                           "stage": "v1", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                           "accountId": ACCOUNT, "apiId": "abc123", "protocol": "HTTP/1.1",
                           "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def create_event(body, **options) -> dict:
    return api_event("POST", "/items", "/items", body=body, **options)


def item_event(method: str, item_id, body=None, query=None, **options) -> dict:
    params = None if item_id is None else {"id": item_id}
    return api_event(method, "/items/{id}", f"/items/{item_id}", body=body, query=query, path_params=params,
                     **options)


def call(app, event) -> tuple[int, dict]:
    """(statusCode, body as JSON), after checking the proxy response shape."""
    response = app.lambda_handler(event, CONTEXT)
    assert set(response) == {"statusCode", "headers", "body"}
    assert response["headers"] == {"Content-Type": "application/json"}
    assert isinstance(response["body"], str)
    return response["statusCode"], json.loads(response["body"])


def output_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def emf(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "_aws" in line]


def versions(cloud, item_id: str) -> list[dict]:
    return cloud.table.query(KeyConditionExpression=Key("id").eq(item_id))["Items"]


# --- create --------------------------------------------------------------------------------------------

def test_create_stores_the_first_version_with_exact_numbers(cloud, app):
    status, body = call(app, create_event({"name": "widget", "price": 19.99, "qty": 3, "tags": ["a", "b"],
                                           "dims": {"w": 1.5, "h": 2}, "active": True, "note": None}))

    assert status == 201
    assert len(body["id"]) == 32 and isinstance(body["timestamp"], int)
    assert body["price"] == 19.99 and body["qty"] == 3 and body["dims"] == {"w": 1.5, "h": 2}
    stored, = versions(cloud, body["id"])
    assert stored["timestamp"] == Decimal(body["timestamp"])
    assert stored["price"] == Decimal("19.99")    # stored exactly, never through a float
    assert stored["tags"] == ["a", "b"] and stored["active"] is True and stored["note"] is None


def test_create_accepts_a_base64_body(cloud, app):
    status, body = call(app, create_event({"name": "widget"}, base64_body=True))

    assert status == 201 and body["name"] == "widget"
    assert len(versions(cloud, body["id"])) == 1


def test_two_creates_get_different_ids(cloud, app):
    first = call(app, create_event({"n": 1}))[1]["id"]
    second = call(app, create_event({"n": 1}))[1]["id"]

    assert first != second


@pytest.mark.parametrize("event, status, message", [
    (create_event(None), 400, "empty body"),
    (create_event(""), 400, "empty body"),
    (create_event("{not json"), 400, "not valid JSON"),
    (create_event('{"a": NaN}'), 400, "not valid JSON"),
    (create_event('{"a": Infinity}'), 400, "not valid JSON"),
    (create_event("[1, 2]"), 400, "must be a JSON object"),
    (create_event('"text"'), 400, "must be a JSON object"),
    (create_event("null"), 400, "must be a JSON object"),
    (create_event({"id": "mine", "name": "x"}), 400, "id cannot be set"),
    (create_event({"timestamp": 1, "name": "x"}), 400, "timestamp cannot be set"),
    (create_event({"": 1}), 400, "cannot be empty"),
    (create_event('{"big": 123456789012345678901234567890123456789}'), 400, "38 significant digits"),
    (create_event('{"tiny": 1e-200}'), 400, "38 significant digits"),
    (create_event("not base64!", base64_body=False) | {"isBase64Encoded": True}, 400, "not valid base64"),
    (create_event(b"\xff\xfe{}", base64_body=True), 400, "not valid JSON"),
])
def test_create_rejects_malformed_bodies(cloud, app, event, status, message):
    got, body = call(app, event)

    assert (got, message in body["error"]) == (status, True), body
    assert cloud.table.scan()["Items"] == []


def test_body_limit_is_100_kib(cloud, app):
    padding = '{"data": "' + "x" * (100 * 1024 - 12) + '"}'
    assert len(padding) == 100 * 1024
    assert call(app, create_event(padding))[0] == 201
    status, body = call(app, create_event(padding[:-2] + 'x"}'))
    assert status == 413 and "limit is 102400" in body["error"]


# --- read ----------------------------------------------------------------------------------------------

def put_versions(cloud, item_id: str, *timestamps: int) -> None:
    for ts in timestamps:
        cloud.table.put_item(Item={"id": item_id, "timestamp": ts, "rev": ts % 1000, "price": Decimal("0.1")})


def test_read_returns_the_newest_version(cloud, app):
    put_versions(cloud, "item-1", 1709303400000, 1709303400002, 1709303400001)

    status, body = call(app, item_event("GET", "item-1"))

    assert status == 200
    assert body == {"id": "item-1", "timestamp": 1709303400002, "rev": 2, "price": 0.1}


def test_read_with_limit_returns_versions_newest_first(cloud, app):
    put_versions(cloud, "item-1", 1709303400000, 1709303400002, 1709303400001, 999)

    status, body = call(app, item_event("GET", "item-1", query={"limit": "3"}))

    assert status == 200 and body["id"] == "item-1"
    assert [v["timestamp"] for v in body["items"]] == [1709303400002, 1709303400001, 1709303400000]


def test_read_of_an_unknown_item_is_404(cloud, app):
    put_versions(cloud, "item-1", 1)
    status, body = call(app, item_event("GET", "item-2"))

    assert status == 404 and body == {"error": "no item item-2"}


@pytest.mark.parametrize("item_id, query, message", [
    (None, None, "id must be"),
    ("", None, "id must be"),
    ("a/b", None, "id must be"),
    ("x" * 129, None, "id must be"),
    ("ok", {"limit": "0"}, "limit must be"),
    ("ok", {"limit": "101"}, "limit must be"),
    ("ok", {"limit": "-1"}, "limit must be"),
    ("ok", {"limit": "ten"}, "limit must be"),
    ("ok", {"limit": ""}, "limit must be"),
])
def test_read_rejects_bad_ids_and_limits(cloud, app, item_id, query, message):
    status, body = call(app, item_event("GET", item_id, query=query))

    assert status == 400 and message in body["error"]


# --- update --------------------------------------------------------------------------------------------

def test_update_adds_a_version_and_replaces_the_attributes(cloud, app):
    created = call(app, create_event({"name": "widget", "colour": "red"}))[1]

    status, body = call(app, item_event("PUT", created["id"], body={"name": "widget", "qty": 7}))

    assert status == 200
    assert body["timestamp"] > created["timestamp"] and body["qty"] == 7 and "colour" not in body
    assert len(versions(cloud, created["id"])) == 2
    latest = call(app, item_event("GET", created["id"]))[1]
    assert latest == body


def test_update_moves_past_a_version_from_the_future(cloud, app):
    future = 4102444800000   # 2100-01-01: a writer whose clock ran ahead
    put_versions(cloud, "item-1", future)

    status, body = call(app, item_event("PUT", "item-1", body={"v": 2}))

    assert status == 200 and body["timestamp"] == future + 1


def test_update_of_an_unknown_item_is_404_and_writes_nothing(cloud, app):
    status, body = call(app, item_event("PUT", "nope", body={"v": 1}))

    assert status == 404 and "no item nope" in body["error"]
    assert cloud.table.scan()["Items"] == []


def test_update_conflict_is_409(cloud, app, monkeypatch):
    put_versions(cloud, "item-1", 1709303400000)
    # another writer adds a version between our read of the newest version and our write
    cloud.table.put_item(Item={"id": "item-1", "timestamp": 1709303400005, "by": "another writer"})
    stale = {"Items": [{"timestamp": Decimal(1709303400000)}]}

    class StaleRead:
        def __init__(self, table):
            self._table = table

        def query(self, **kwargs):
            return stale if kwargs.get("Limit") == 1 else self._table.query(**kwargs)

        def __getattr__(self, name):
            return getattr(self._table, name)

    monkeypatch.setattr(app, "_table", lambda: StaleRead(app.dynamodb.Table(TABLE)))
    monkeypatch.setattr(app, "_now_ms", lambda: 1709303400005)

    status, body = call(app, item_event("PUT", "item-1", body={"v": 2}))

    assert status == 409 and "retry" in body["error"]
    assert {v.get("by") for v in versions(cloud, "item-1")} == {None, "another writer"}


def test_update_rejects_a_malformed_body_before_reading(cloud, app):
    put_versions(cloud, "item-1", 1)
    status, body = call(app, item_event("PUT", "item-1", body="{broken"))

    assert status == 400 and "not valid JSON" in body["error"]
    assert len(versions(cloud, "item-1")) == 1


# --- delete --------------------------------------------------------------------------------------------

def test_delete_removes_every_version_only_of_that_item(cloud, app):
    put_versions(cloud, "item-1", *range(1, 31))
    put_versions(cloud, "item-2", 5)

    status, body = call(app, item_event("DELETE", "item-1"))

    assert status == 200 and body == {"id": "item-1", "deleted": 30}
    assert versions(cloud, "item-1") == [] and len(versions(cloud, "item-2")) == 1
    assert call(app, item_event("GET", "item-1"))[0] == 404


def test_delete_pages_through_large_items(cloud, app):
    big = "x" * 300_000   # ~3 items a 1 MB query page: the handler must follow LastEvaluatedKey
    for ts in range(8):
        cloud.table.put_item(Item={"id": "big", "timestamp": ts, "blob": big})

    first_page = cloud.table.query(KeyConditionExpression=Key("id").eq("big"))
    assert "LastEvaluatedKey" in first_page and len(first_page["Items"]) < 8

    status, body = call(app, item_event("DELETE", "big"))

    assert status == 200 and body["deleted"] == 8
    assert versions(cloud, "big") == []


def test_delete_of_an_unknown_item_is_404(cloud, app):
    assert call(app, item_event("DELETE", "ghost"))[0] == 404


# --- routing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("event, status", [
    (api_event("GET", "/items", "/items"), 405),
    (api_event("PATCH", "/items/{id}", "/items/x", path_params={"id": "x"}), 405),
    (api_event("GET", "/other", "/other"), 404),
    ({}, 404),
    ({"httpMethod": "GET"}, 404),
])
def test_unknown_routes_and_methods(cloud, app, event, status):
    assert call(app, event)[0] == status


def test_non_dict_event_is_a_404_not_a_crash(cloud, app):
    assert call(app, "not an event")[0] == 404


def test_context_may_be_missing(cloud, app, capsys):
    response = app.lambda_handler(create_event({"n": 1}), None)

    assert response["statusCode"] == 201
    log = next(line for line in output_lines(capsys) if line.get("message") == "request served")
    assert log["request_id"] is None


# --- logs and metrics ----------------------------------------------------------------------------------

def test_every_line_is_json_with_context_and_one_emf_metric(cloud, app, capsys):
    call(app, create_event({"name": "widget"}))

    lines = output_lines(capsys)
    log = next(line for line in lines if line.get("message") == "request served")
    assert log["level"] == "INFO" and log["service"] == "serverless-app" and log["function"] == FUNCTION
    assert log["request_id"] == CONTEXT.aws_request_id and log["operation"] == "create" and log["status"] == 201
    assert log["xray_trace_id"].startswith("Root=1-65e1e8a4")
    assert log["api_request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert log["timestamp"].endswith("Z")
    metric, = emf(lines)
    directive, = metric["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ServerlessApp"
    assert directive["Dimensions"] == [["Service", "Operation"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names == {"Requests": "Count", "ClientErrors": "Count", "ServerErrors": "Count",
                     "Latency": "Milliseconds", "ItemsWritten": "Count"}
    for name in names:   # EMF: every metric named in the directive is a top-level number
        assert isinstance(metric[name], (int, float))
    assert (metric["Service"], metric["Operation"], metric["Requests"], metric["ItemsWritten"]) == (
        "serverless-app", "create", 1, 1)
    assert metric["ClientErrors"] == 0 and metric["statusCode"] == 201
    assert isinstance(metric["_aws"]["Timestamp"], int)


def test_cold_start_is_true_only_for_the_first_invocation(cloud, app, capsys):
    call(app, create_event({"n": 1}))
    call(app, create_event({"n": 2}))

    served = [line for line in output_lines(capsys) if line.get("message") == "request served"]
    assert [line["cold_start"] for line in served] == [True, False]


def test_client_errors_are_counted_and_logged(cloud, app, capsys):
    call(app, item_event("GET", "missing"))

    lines = output_lines(capsys)
    rejected = next(line for line in lines if line.get("message") == "request rejected")
    assert rejected["status"] == 404 and rejected["operation"] == "read"
    metric, = emf(lines)
    assert (metric["Operation"], metric["ClientErrors"], metric["ServerErrors"]) == ("read", 1, 0)


def test_delete_counts_deleted_versions(cloud, app, capsys):
    put_versions(cloud, "item-1", 1, 2, 3)
    call(app, item_event("DELETE", "item-1"))

    metric, = emf(output_lines(capsys))
    assert metric["ItemsDeleted"] == 3 and "ItemsWritten" not in metric


def test_namespace_and_service_come_from_the_environment(cloud, app, capsys, monkeypatch):
    monkeypatch.setenv("METRICS_NAMESPACE", "ServerlessAppStaging")
    monkeypatch.setenv("SERVICE_NAME", "items")
    call(app, create_event({"n": 1}))

    metric, = emf(output_lines(capsys))
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ServerlessAppStaging"
    assert metric["Service"] == "items"


@pytest.mark.parametrize("stage_variables, environment, debug_logged", [
    ({"logLevel": "DEBUG"}, "INFO", True),
    ({"logLevel": "WARNING"}, "DEBUG", False),
    ({}, "DEBUG", True),
    ({}, None, False),
    ({"logLevel": "LOUD"}, None, False),   # unknown level: INFO
])
def test_log_level_from_the_stage_variable_then_the_environment(cloud, app, capsys, monkeypatch,
                                                                stage_variables, environment, debug_logged):
    if environment:
        monkeypatch.setenv("LOG_LEVEL", environment)
    call(app, create_event({"n": 1}, stage_variables=stage_variables))

    messages = [line.get("message") for line in output_lines(capsys)]
    assert ("request" in messages) is debug_logged
    assert ("request served" in messages) is (stage_variables.get("logLevel") != "WARNING")


def test_aws_errors_are_logged_counted_and_raised(cloud, app, capsys, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "no-such-table")

    with pytest.raises(ClientError):
        app.lambda_handler(create_event({"n": 1}), CONTEXT)

    lines = output_lines(capsys)
    failed = next(line for line in lines if line.get("message") == "request failed")
    assert failed["level"] == "ERROR" and failed["exception_type"] == "ResourceNotFoundException"
    assert "ResourceNotFoundException" in failed["exception"]
    metric, = emf(lines)
    assert (metric["ServerErrors"], metric["statusCode"], metric["Operation"]) == (1, 500, "create")


def test_logs_are_not_printed_twice_through_the_root_logger(cloud, app, capsys):
    import logging
    logging.basicConfig(level=logging.INFO, force=True)
    try:
        call(app, create_event({"n": 1}))
    finally:
        logging.getLogger().handlers.clear()

    captured = capsys.readouterr()
    assert captured.err == ""
    served = [line for line in captured.out.splitlines() if '"request served"' in line]
    assert len(served) == 1


# --- end to end in one table ---------------------------------------------------------------------------

def test_create_update_read_history_delete(cloud, app):
    item_id = call(app, create_event({"state": "new"}))[1]["id"]
    call(app, item_event("PUT", item_id, body={"state": "paid"}))
    call(app, item_event("PUT", item_id, body={"state": "shipped"}))

    status, history = call(app, item_event("GET", item_id, query={"limit": "10"}))

    assert status == 200 and [v["state"] for v in history["items"]] == ["shipped", "paid", "new"]
    assert call(app, item_event("DELETE", item_id))[1] == {"id": item_id, "deleted": 3}
    assert call(app, item_event("GET", item_id))[0] == 404
