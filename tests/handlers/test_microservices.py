"""The microservices Lambda handlers (user, order and product services), run in-process against moto's
mock_aws with the events API Gateway, Step Functions and S3 send."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.handlers import events
from tests.handlers.events import REGION, api_gateway_event, lambda_invoke_result, load_handler

STAGE = "dev"
USERS_TABLE = "microservices-dev-users"
ORDERS_TABLE = "microservices-dev-orders"
PRODUCTS_TABLE = "microservices-dev-products"
BUCKET = "microservices-dev-data-us-east-1"
SECRET_NAME = "microservices-dev-api-secret"
SECRET_VALUE = "q7Vf2LmZ9xR4tB8nK1wE6yH3cJ5pD0sA"
FOLDER = "lambda_code/microservices"

# What each function gets in its environment, and nothing more.
FUNCTION_ENV = {
    "user_service": ("USERS_TABLE_NAME",),
    "order_service": ("ORDERS_TABLE_NAME", "USERS_TABLE_NAME", "API_SECRET_ARN"),
    "product_service": ("PRODUCTS_TABLE_NAME",),
}
ALL_ENV = ("USERS_TABLE_NAME", "ORDERS_TABLE_NAME", "PRODUCTS_TABLE_NAME", "API_SECRET_ARN")

CONTEXT = SimpleNamespace(aws_request_id="3f1c2b0a-9d8e-4f6a-8b4c-3d2e1f0a9b8c",
                          function_name="microservices-dev-service", memory_limit_in_mb=512)
ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# --- fixtures ------------------------------------------------------------------------------------------

def create_table(dynamodb, name: str, key: str, indexes: dict):
    """A table with a string partition key and one GSI (projection ALL) per {index name: attribute}."""
    attributes = [key, *indexes.values()]
    return dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        GlobalSecondaryIndexes=[{"IndexName": index,
                                 "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}
                                for index, attribute in indexes.items()],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def cloud():
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        users = create_table(dynamodb, USERS_TABLE, "userId", {"email-index": "email"})
        orders = create_table(dynamodb, ORDERS_TABLE, "orderId",
                              {"userId-index": "userId", "status-index": "status"})
        products = create_table(dynamodb, PRODUCTS_TABLE, "productId", {"category-index": "category"})
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secret_arn = secrets.create_secret(Name=SECRET_NAME, SecretString=SECRET_VALUE)["ARN"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        env = {"USERS_TABLE_NAME": USERS_TABLE, "ORDERS_TABLE_NAME": ORDERS_TABLE,
               "PRODUCTS_TABLE_NAME": PRODUCTS_TABLE, "API_SECRET_ARN": secret_arn}
        yield SimpleNamespace(users=users, orders=orders, products=products, secrets=secrets,
                              secret_arn=secret_arn, s3=s3, env=env)


@pytest.fixture
def shared(monkeypatch):
    """service.py, registered under the name the handlers import (undone after the test)."""
    return load_handler(f"{FOLDER}/service.py", "service", monkeypatch)


def load_service(cloud, monkeypatch, name: str):
    """Imports lambda_code/microservices/<name>.py with exactly the environment its function gets; service.py
    must be loaded first (the shared fixture)."""
    for variable in ALL_ENV:
        monkeypatch.delenv(variable, raising=False)
    for variable in FUNCTION_ENV[name]:
        monkeypatch.setenv(variable, cloud.env[variable])
    return load_handler(f"{FOLDER}/{name}.py", f"microservices_{name}_under_test", monkeypatch)


@pytest.fixture
def users(cloud, shared, monkeypatch):
    return load_service(cloud, monkeypatch, "user_service")


@pytest.fixture
def orders(cloud, shared, monkeypatch):
    return load_service(cloud, monkeypatch, "order_service")


@pytest.fixture
def products(cloud, shared, monkeypatch):
    return load_service(cloud, monkeypatch, "product_service")


# --- helpers -------------------------------------------------------------------------------------------

api = partial(api_gateway_event, stage=STAGE)
s3_event = partial(events.s3_event, bucket=BUCKET, configuration_id="incoming-csv")


def call(service, event) -> tuple[int, dict]:
    """(statusCode, body as JSON) of an API request, after checking the proxy response shape."""
    result = service.handler(event, CONTEXT)
    assert result["headers"]["Content-Type"] == "application/json"
    assert isinstance(result["body"], str)
    return result["statusCode"], json.loads(result["body"])


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def put_user(cloud, user_id: str = "u-1", email: str = "ada@example.com", **extra) -> dict:
    user = {"userId": user_id, "email": email, "name": "Ada Lovelace", "createdAt": "2024-03-01T14:30:00Z",
            **extra}
    cloud.users.put_item(Item=user)
    return user


def put_product(cloud, product_id: str, stock: int, category: str = "lighting", price: str = "9.99") -> None:
    cloud.products.put_item(Item={"productId": product_id, "name": f"Product {product_id}",
                                  "category": category, "price": Decimal(price), "stock": Decimal(stock)})


def stock(cloud, product_id: str) -> Decimal:
    return cloud.products.get_item(Key={"productId": product_id}, ConsistentRead=True)["Item"]["stock"]


def scan(table) -> list:
    return table.scan(ConsistentRead=True)["Items"]


def expected_confirmation(order_id: str, key: str = SECRET_VALUE) -> str:
    return hmac.new(key.encode(), order_id.encode(), hashlib.sha256).hexdigest()


def count_calls(client, operation: str) -> list:
    """Appends to the returned list each time the client is about to send operation (service id from the
    client's own metadata), so calls are counted on the real client, not a mock."""
    calls = []
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-call.{service}.{operation}", lambda **_: calls.append(operation))
    return calls


ITEMS = [{"productId": "p-1", "quantity": 2, "price": 19.99},
         {"productId": "p-2", "quantity": 1, "price": "5.50"}]


# --- user service: API ---------------------------------------------------------------------------------

def test_post_user_creates_a_user_with_a_uuid4_id(cloud, users):
    body = {"email": " Ada@Example.COM ", "name": " Ada Lovelace "}

    status, body = call(users, api("POST", "/users", body=body))

    assert status == 201
    assert uuid.UUID(body["userId"]).version == 4
    assert (body["email"], body["name"]) == ("ada@example.com", "Ada Lovelace")
    assert ISO_SECONDS.fullmatch(body["createdAt"])
    assert cloud.users.get_item(Key={"userId": body["userId"]})["Item"] == body


def test_post_user_accepts_a_base64_body(cloud, users):
    body = {"email": "grace@example.com", "name": "Grace Hopper"}
    event = api("POST", "/users", body=body, base64_body=True)

    status, body = call(users, event)

    assert status == 201 and body["email"] == "grace@example.com"


@pytest.mark.parametrize("body, message", [
    ({"name": "Ada"}, "email is required"),
    ({"email": "  ", "name": "Ada"}, "email is required"),
    ({"email": 42, "name": "Ada"}, "email must be a string"),
    ({"email": "not-an-email", "name": "Ada"}, "is not a valid address"),
    ({"email": "ada@localhost", "name": "Ada"}, "is not a valid address"),
    ({"email": "ada lovelace@example.com", "name": "Ada"}, "is not a valid address"),
    ({"email": "ada@@example.com", "name": "Ada"}, "is not a valid address"),
    ({"email": "a" * 250 + "@example.com", "name": "Ada"}, "is not a valid address"),
    ({"email": "ada@example.com"}, "name is required"),
    ({"email": "ada@example.com", "name": "   "}, "name is required"),
    ({"email": "ada@example.com", "name": "x" * 201}, "longer than 200"),
    ("{not json", "not valid JSON"),
    (["ada@example.com"], "must be a JSON object"),
    (None, "no body"),
])
def test_post_user_rejects_bad_bodies(cloud, users, body, message):
    status, answer = call(users, api("POST", "/users", body=body))

    assert status == 400
    assert message in answer["error"]
    assert scan(cloud.users) == []


def test_post_user_with_an_existing_email_is_409(cloud, users):
    assert call(users, api("POST", "/users", body={"email": "ada@example.com", "name": "Ada"}))[0] == 201

    status, body = call(users, api("POST", "/users", body={"email": "ADA@example.com", "name": "Other Ada"}))

    assert status == 409
    assert "ada@example.com already exists" in body["error"]
    assert [user["name"] for user in scan(cloud.users)] == ["Ada"]


def test_get_user_by_email_through_the_index_and_by_user_id(cloud, users):
    created = call(users, api("POST", "/users", body={"email": "ada@example.com", "name": "Ada"}))[1]
    put_user(cloud, "u-other", "grace@example.com")

    assert call(users, api("GET", "/users", query={"email": "Ada@Example.com"})) == (200, created)
    assert call(users, api("GET", "/users", query={"userId": created["userId"]})) == (200, created)
    # email comes first when both are given
    both = {"email": "ada@example.com", "userId": "u-other"}
    assert call(users, api("GET", "/users", query=both)) == (200, created)


def test_get_user_numbers_come_back_as_json_numbers(cloud, users):
    put_user(cloud, "u-1", loyaltyPoints=Decimal(120), rating=Decimal("4.5"))

    status, body = call(users, api("GET", "/users", query={"userId": "u-1"}))

    assert status == 200
    assert (body["loyaltyPoints"], body["rating"]) == (120, 4.5)


@pytest.mark.parametrize("query, status, message", [
    ({"email": "nobody@example.com"}, 404, "no user with email nobody@example.com"),
    ({"userId": "u-missing"}, 404, "no user with userId u-missing"),
    (None, 400, "give the query parameter email or userId"),
    ({"name": "Ada"}, 400, "give the query parameter email or userId"),
    ({"email": "nope"}, 400, "is not a valid address"),
    ({"userId": ""}, 400, "userId"),
    ({"userId": "x" * 129}, 400, "at most 128"),
])
def test_get_user_errors(cloud, users, query, status, message):
    put_user(cloud)

    answer = call(users, api("GET", "/users", query=query))

    assert answer[0] == status
    assert message in answer[1]["error"]


def test_unknown_route_is_404_and_other_methods_405(cloud, users):
    result = users.handler(api("DELETE", "/users"), CONTEXT)
    assert result["statusCode"] == 405
    assert result["headers"]["Allow"] == "GET, POST"

    assert call(users, api("GET", "/accounts"))[0] == 404


def test_aws_errors_are_logged_and_raised(cloud, users, capsys):
    cloud.users.delete()

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        users.handler(api("GET", "/users", query={"userId": "u-1"}), CONTEXT)

    last = log_lines(capsys)[-1]
    assert (last["level"], last["message"]) == ("ERROR", "request failed")
    assert "ResourceNotFoundException" in last["error"]


def test_every_log_line_is_json_with_service_and_request_id(cloud, users, capsys):
    call(users, api("POST", "/users", body={"email": "ada@example.com", "name": "Ada"}))
    call(users, api("GET", "/users", query={"userId": "nope"}))

    lines = log_lines(capsys)
    assert [line["message"] for line in lines] == ["request received", "user created", "request handled",
                                                   "request received", "request rejected"]
    assert {line["service"] for line in lines} == {"user-service"}
    assert {line["requestId"] for line in lines} == {CONTEXT.aws_request_id}
    assert lines[-1]["level"] == "WARNING" and lines[-1]["statusCode"] == 404


def test_a_missing_table_name_fails_at_import(cloud, shared, monkeypatch):
    monkeypatch.delenv("USERS_TABLE_NAME", raising=False)

    with pytest.raises(RuntimeError, match="USERS_TABLE_NAME"):
        load_handler(f"{FOLDER}/user_service.py", "microservices_user_service_no_env", monkeypatch)


# --- user service: ValidateUser ------------------------------------------------------------------------

def test_validate_user_returns_the_input_with_the_user(cloud, users):
    put_user(cloud, "u-1", loyaltyPoints=Decimal(120))
    state = {"userId": "u-1", "items": ITEMS}

    output = users.handler(state, CONTEXT)

    assert output == {**state, "user": {"userId": "u-1", "email": "ada@example.com", "name": "Ada Lovelace",
                                        "createdAt": "2024-03-01T14:30:00Z", "loyaltyPoints": 120}}
    json.dumps(output)  # Lambda serialises the result with json: no Decimal may be left


def test_validate_user_raises_user_not_found(cloud, users):
    with pytest.raises(users.UserNotFound, match="user u-ghost does not exist") as raised:
        users.handler({"userId": "u-ghost", "items": ITEMS}, CONTEXT)

    # Lambda reports the class name as errorType, which is what the state machine's Catch matches.
    assert type(raised.value).__name__ == "UserNotFound"


@pytest.mark.parametrize("user_id", ["", "   ", 42, None, "x" * 129])
def test_validate_user_rejects_a_malformed_user_id(cloud, users, user_id):
    with pytest.raises(users.InvalidInput):
        users.handler({"userId": user_id, "items": ITEMS}, CONTEXT)


def test_an_event_of_no_known_kind_is_refused(cloud, users):
    with pytest.raises(users.UnsupportedEvent):
        users.handler({"items": ITEMS}, CONTEXT)
    with pytest.raises(users.UnsupportedEvent):
        users.handler([], CONTEXT)


# --- order service: API --------------------------------------------------------------------------------

def test_post_order_stores_a_pending_order_with_a_decimal_total_and_an_hmac_confirmation(cloud, orders):
    put_user(cloud, "u-1")

    status, body = call(orders, api("POST", "/orders", body={"userId": "u-1", "items": ITEMS}))

    assert status == 201
    assert uuid.UUID(body["orderId"]).version == 4
    assert (body["userId"], body["status"], body["total"]) == ("u-1", "PENDING", 45.48)
    assert body["items"] == [{"productId": "p-1", "quantity": 2, "price": 19.99},
                             {"productId": "p-2", "quantity": 1, "price": 5.5}]
    assert ISO_SECONDS.fullmatch(body["createdAt"])

    stored = cloud.orders.get_item(Key={"orderId": body["orderId"]})["Item"]
    assert isinstance(stored["total"], Decimal) and str(stored["total"]) == "45.48"
    assert stored["items"][0] == {"productId": "p-1", "quantity": Decimal(2), "price": Decimal("19.99")}
    assert stored["status"] == "PENDING"

    # The token is HMAC-SHA256(orderId) keyed with the secret's value, computed here independently.
    assert re.fullmatch(r"[0-9a-f]{64}", body["confirmation"])
    assert body["confirmation"] == stored["confirmation"] == expected_confirmation(body["orderId"])
    assert body["confirmation"] != expected_confirmation(body["orderId"], key="another secret")


def test_the_secret_is_fetched_once_per_container(cloud, orders):
    put_user(cloud, "u-1")
    fetches = count_calls(orders.secrets, "GetSecretValue")

    assert call(orders, api("GET", "/orders", query={"userId": "u-1"}))[0] == 200
    assert fetches == []  # reads need no secret

    first = call(orders, api("POST", "/orders", body={"userId": "u-1", "items": ITEMS}))[1]
    cloud.secrets.put_secret_value(SecretId=cloud.secret_arn, SecretString="rotated value")
    second = call(orders, api("POST", "/orders", body={"userId": "u-1", "items": ITEMS}))[1]

    assert fetches == ["GetSecretValue"]
    # The second order still uses the value read for the first: it was not fetched again.
    assert first["confirmation"] == expected_confirmation(first["orderId"])
    assert second["confirmation"] == expected_confirmation(second["orderId"])


def test_a_new_container_reads_the_current_secret(cloud, orders, monkeypatch):
    put_user(cloud, "u-1")
    call(orders, api("POST", "/orders", body={"userId": "u-1", "items": ITEMS}))
    cloud.secrets.put_secret_value(SecretId=cloud.secret_arn, SecretString="rotated value")

    fresh = load_service(cloud, monkeypatch, "order_service")
    order = call(fresh, api("POST", "/orders", body={"userId": "u-1", "items": ITEMS}))[1]

    assert order["confirmation"] == expected_confirmation(order["orderId"], key="rotated value")


def test_post_order_for_an_unknown_user_is_404_and_writes_nothing(cloud, orders):
    fetches = count_calls(orders.secrets, "GetSecretValue")

    status, body = call(orders, api("POST", "/orders", body={"userId": "u-ghost", "items": ITEMS}))

    assert (status, body) == (404, {"error": "user u-ghost does not exist"})
    assert scan(cloud.orders) == []
    assert fetches == []


def item(**changes) -> dict:
    entry = {"productId": "p-1", "quantity": 1, "price": 10}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not ...}


@pytest.mark.parametrize("body, message", [
    ({"items": [item()]}, "userId"),
    ({"userId": "  ", "items": [item()]}, "userId"),
    ({"userId": "u-1"}, "items must be a non-empty list"),
    ({"userId": "u-1", "items": []}, "items must be a non-empty list"),
    ({"userId": "u-1", "items": "p-1"}, "items must be a non-empty list"),
    ({"userId": "u-1", "items": [1]}, "items[0] must be an object"),
    ({"userId": "u-1", "items": [item(productId=...)]}, "items[0].productId"),
    ({"userId": "u-1", "items": [item(productId="")]}, "items[0].productId"),
    ({"userId": "u-1", "items": [item(), item(quantity=2)]}, "appears more than once"),
    ({"userId": "u-1", "items": [item(quantity=0)]}, "must be from 1 to"),
    ({"userId": "u-1", "items": [item(quantity=-1)]}, "must be from 1 to"),
    ({"userId": "u-1", "items": [item(quantity=1.5)]}, "must be a whole number"),
    ({"userId": "u-1", "items": [item(quantity="2")]}, "must be a whole number"),
    ({"userId": "u-1", "items": [item(quantity=True)]}, "must be a whole number"),
    ({"userId": "u-1", "items": [item(quantity=...)]}, "must be a whole number"),
    ({"userId": "u-1", "items": [item(productId="p-2"), item(price=-1)]}, "items[1].price -1 is negative"),
    ({"userId": "u-1", "items": [item(price=...)]}, "must be a non-negative number"),
    ({"userId": "u-1", "items": [item(price="abc")]}, "must be a non-negative number"),
    ({"userId": "u-1", "items": [item(price=1.999)]}, "more than 2 decimal places"),
    ({"userId": "u-1", "items": [item(price=10 ** 9)]}, "must be below"),
    ({"userId": "u-1", "items": [item(productId=f"p-{i}") for i in range(101)]}, "at most 100 items"),
    ("[1, 2", "not valid JSON"),
    ('{"userId": "u-1", "items": [{"productId": "p-1", "quantity": 1, "price": NaN}]}', "not valid JSON"),
])
def test_post_order_rejects_invalid_orders(cloud, orders, body, message):
    put_user(cloud, "u-1")

    status, answer = call(orders, api("POST", "/orders", body=body))

    assert status == 400
    assert message in answer["error"]
    assert scan(cloud.orders) == []


def create_orders(orders, user_id: str, count: int) -> list:
    return [call(orders, api("POST", "/orders", body={"userId": user_id, "items": ITEMS}))[1]["orderId"]
            for _ in range(count)]


def test_orders_of_a_user_are_paged_with_next_token(cloud, orders):
    put_user(cloud, "u-1")
    put_user(cloud, "u-2", "grace@example.com")
    mine = create_orders(orders, "u-1", 3)
    create_orders(orders, "u-2", 1)

    status, first = call(orders, api("GET", "/orders", query={"userId": "u-1", "limit": "2"}))
    assert status == 200
    assert first["count"] == len(first["orders"]) == 2
    assert first["nextToken"]

    status, second = call(orders, api("GET", "/orders",
                                      query={"userId": "u-1", "limit": "2", "nextToken": first["nextToken"]}))
    assert status == 200
    assert second["count"] == 1 and second["nextToken"] is None

    listed = first["orders"] + second["orders"]
    assert sorted(order["orderId"] for order in listed) == sorted(mine)
    assert {order["userId"] for order in listed} == {"u-1"}
    assert all(order["total"] == 45.48 for order in listed)


def test_orders_by_status(cloud, orders):
    put_user(cloud, "u-1")
    pending = create_orders(orders, "u-1", 2)
    processing = orders.handler({"userId": "u-1", "items": ITEMS}, CONTEXT)["orderId"]

    by_pending = call(orders, api("GET", "/orders", query={"status": "pending"}))[1]
    by_processing = call(orders, api("GET", "/orders", query={"status": "PROCESSING"}))[1]
    by_shipped = call(orders, api("GET", "/orders", query={"status": "SHIPPED"}))[1]

    assert sorted(order["orderId"] for order in by_pending["orders"]) == sorted(pending)
    assert [order["orderId"] for order in by_processing["orders"]] == [processing]
    assert by_shipped == {"orders": [], "count": 0, "nextToken": None}


def test_a_next_token_only_fits_its_own_query(cloud, orders):
    put_user(cloud, "u-1")
    create_orders(orders, "u-1", 2)
    token = call(orders, api("GET", "/orders", query={"userId": "u-1", "limit": "1"}))[1]["nextToken"]

    status, body = call(orders, api("GET", "/orders", query={"userId": "u-2", "nextToken": token}))
    assert status == 400 and "another query" in body["error"]
    status, body = call(orders, api("GET", "/orders", query={"status": "PENDING", "nextToken": token}))
    assert status == 400 and "not a token returned by this API" in body["error"]


@pytest.mark.parametrize("query, message", [
    (None, "exactly one of the query parameters userId and status"),
    ({"userId": "u-1", "status": "PENDING"}, "exactly one of the query parameters userId and status"),
    ({"userId": ""}, "userId"),
    ({"status": "pend ing"}, "is not a status name"),
    ({"userId": "u-1", "limit": "0"}, "limit must be an integer from 1 to 100"),
    ({"userId": "u-1", "limit": "101"}, "limit must be an integer from 1 to 100"),
    ({"userId": "u-1", "limit": "ten"}, "limit must be an integer from 1 to 100"),
    ({"userId": "u-1", "nextToken": "not a token!"}, "not a token returned by this API"),
    ({"userId": "u-1", "nextToken": "eyJhIjogMX0"}, "not a token returned by this API"),  # {"a": 1}
])
def test_list_orders_rejects_bad_queries(cloud, orders, query, message):
    status, body = call(orders, api("GET", "/orders", query=query))

    assert status == 400
    assert message in body["error"]


def test_orders_route_errors(cloud, orders):
    assert call(orders, api("PUT", "/orders", body={}))[0] == 405
    assert call(orders, api("GET", "/orders/123"))[0] == 404


# --- order service: ProcessOrder -----------------------------------------------------------------------

def test_process_order_writes_a_processing_order_and_passes_the_input_on(cloud, orders):
    state = {"userId": "u-1", "items": [{"productId": "p-1", "quantity": 2, "price": 19.99},
                                        {"productId": "p-2", "quantity": 1, "price": 5.5}],
             "user": {"userId": "u-1", "email": "ada@example.com", "name": "Ada"}}

    output = orders.handler(state, CONTEXT)

    assert output == {**state, "orderId": output["orderId"], "status": "PROCESSING"}
    json.dumps(output)
    stored = cloud.orders.get_item(Key={"orderId": output["orderId"]})["Item"]
    assert (stored["userId"], stored["status"]) == ("u-1", "PROCESSING")
    assert str(stored["total"]) == "45.48"  # floats from the state input, summed exactly as Decimal
    assert stored["confirmation"] == expected_confirmation(output["orderId"])
    assert "user" not in stored


def test_process_order_accepts_a_whole_lambda_invoke_output(cloud, orders):
    state = {"userId": "u-1", "items": ITEMS, "user": {"userId": "u-1"}}

    output = orders.handler(lambda_invoke_result(state), CONTEXT)

    assert output["status"] == "PROCESSING" and output["userId"] == "u-1" and "StatusCode" not in output
    assert [o["orderId"] for o in scan(cloud.orders)] == [output["orderId"]]


def test_process_order_with_invalid_items_raises_invalid_order(cloud, orders):
    with pytest.raises(orders.InvalidOrder, match=r"items\[0\].quantity"):
        orders.handler({"userId": "u-1", "items": [{"productId": "p-1", "quantity": 0, "price": 1}]}, CONTEXT)

    assert scan(cloud.orders) == []


# --- product service: API ------------------------------------------------------------------------------

def test_post_product_stores_decimals(cloud, products):
    body = {"name": " Desk lamp ", "category": "lighting", "price": 24.90, "stock": 12}

    status, created = call(products, api("POST", "/products", body=body))

    assert status == 201
    assert uuid.UUID(created["productId"]).version == 4
    assert {k: created[k] for k in ("name", "category", "price", "stock")} == {
        "name": "Desk lamp", "category": "lighting", "price": 24.9, "stock": 12}
    stored = cloud.products.get_item(Key={"productId": created["productId"]})["Item"]
    assert isinstance(stored["price"], Decimal) and stored["price"] == Decimal("24.9")
    assert stored["stock"] == Decimal(12)
    assert ISO_SECONDS.fullmatch(stored["createdAt"]) and stored["updatedAt"] == stored["createdAt"]


@pytest.mark.parametrize("changes, message", [
    ({"name": None}, "missing name"),
    ({"name": "x" * 201}, "name"),
    ({"category": "  "}, "category"),
    ({"category": 7}, "category"),
    ({"price": None}, "missing price"),
    ({"price": -1}, "negative"),
    ({"price": "1e3"}, "must be a non-negative number"),
    ({"price": 0.001}, "more than 2 decimal places"),
    ({"stock": None}, "missing stock"),
    ({"stock": -1}, "must be from 0 to"),
    ({"stock": 1.5}, "must be a whole number"),
    ({"stock": True}, "must be a whole number"),
])
def test_post_product_rejects_bad_bodies(cloud, products, changes, message):
    body = {"name": "Desk lamp", "category": "lighting", "price": 24.9, "stock": 12}
    body.update(changes)
    body = {key: value for key, value in body.items() if value is not None}

    status, answer = call(products, api("POST", "/products", body=body))

    assert status == 400
    assert message in answer["error"]
    assert scan(cloud.products) == []


def test_get_products_by_id_and_by_category_in_pages(cloud, products):
    for product_id in ("p-1", "p-2", "p-3"):
        put_product(cloud, product_id, 5, "lighting")
    put_product(cloud, "p-9", 5, "furniture")

    status, one = call(products, api("GET", "/products", query={"productId": "p-2"}))
    assert status == 200
    assert one == {"productId": "p-2", "name": "Product p-2", "category": "lighting", "price": 9.99,
                   "stock": 5}

    first = call(products, api("GET", "/products", query={"category": "lighting", "limit": "2"}))[1]
    assert first["count"] == 2 and first["nextToken"]
    second = call(products, api("GET", "/products", query={"category": "lighting", "limit": "2",
                                                          "nextToken": first["nextToken"]}))[1]
    assert second["count"] == 1 and second["nextToken"] is None
    assert sorted(p["productId"] for p in first["products"] + second["products"]) == ["p-1", "p-2", "p-3"]


@pytest.mark.parametrize("query, status, message", [
    ({"productId": "p-missing"}, 404, "no product with productId p-missing"),
    (None, 400, "give the query parameter productId or category"),
    ({"category": ""}, 400, "category"),
    ({"category": "lighting", "limit": "1000"}, 400, "limit"),
    ({"category": "lighting", "nextToken": "%%%"}, 400, "nextToken"),
])
def test_get_products_errors(cloud, products, query, status, message):
    answer = call(products, api("GET", "/products", query=query))

    assert answer[0] == status
    assert message in answer[1]["error"]


# --- product service: UpdateInventory ------------------------------------------------------------------

def inventory_input(*items) -> dict:
    return {"userId": "u-1", "orderId": "o-1", "status": "PROCESSING",
            "items": [{"productId": p, "quantity": q, "price": 1.5} for p, q in items]}


def test_update_inventory_decrements_each_stock(cloud, products):
    put_product(cloud, "p-1", 10)
    put_product(cloud, "p-2", 3)

    output = products.handler(inventory_input(("p-1", 2), ("p-2", 3)), CONTEXT)

    assert output == {"orderId": "o-1", "status": "INVENTORY_UPDATED"}
    assert (stock(cloud, "p-1"), stock(cloud, "p-2")) == (8, 0)


def test_insufficient_stock_raises_and_leaves_every_stock_unchanged(cloud, products):
    put_product(cloud, "p-1", 10)
    put_product(cloud, "p-2", 1)

    with pytest.raises(products.InsufficientStock) as raised:
        products.handler(inventory_input(("p-1", 2), ("p-2", 3)), CONTEXT)

    assert type(raised.value).__name__ == "InsufficientStock"
    assert "product p-2 has 1 in stock, the order needs 3" in str(raised.value)
    assert "p-1" not in str(raised.value)
    assert (stock(cloud, "p-1"), stock(cloud, "p-2")) == (10, 1)


def test_an_unknown_product_is_insufficient_stock(cloud, products):
    put_product(cloud, "p-1", 10)

    with pytest.raises(products.InsufficientStock, match="product p-ghost does not exist"):
        products.handler(inventory_input(("p-1", 1), ("p-ghost", 1)), CONTEXT)

    assert stock(cloud, "p-1") == 10


def test_quantities_of_a_repeated_product_are_added_up(cloud, products):
    put_product(cloud, "p-1", 4)

    with pytest.raises(products.InsufficientStock, match="needs 5"):
        products.handler(inventory_input(("p-1", 2), ("p-1", 3)), CONTEXT)
    assert stock(cloud, "p-1") == 4

    put_product(cloud, "p-1", 5)
    products.handler(inventory_input(("p-1", 2), ("p-1", 3)), CONTEXT)
    assert stock(cloud, "p-1") == 0


@pytest.mark.parametrize("event", [
    {"orderId": "o-1", "items": []},
    {"orderId": "", "items": [{"productId": "p-1", "quantity": 1}]},
    {"orderId": "o-1", "items": [{"productId": "p-1", "quantity": 0}]},
    {"orderId": "o-1", "items": [{"productId": "p-1", "quantity": "1"}]},
    {"orderId": "o-1", "items": [{"quantity": 1}]},
])
def test_update_inventory_rejects_malformed_input(cloud, products, event):
    put_product(cloud, "p-1", 4)

    with pytest.raises(products.InvalidInventoryRequest):
        products.handler(event, CONTEXT)

    assert stock(cloud, "p-1") == 4


# --- product service: CSV import -----------------------------------------------------------------------

CSV = (
    "productId,name,category,price,stock,supplier\n"
    "p-100,Desk lamp,lighting,24.90,12,acme\n"           # line 2
    'p-101,"Chair, oak",furniture,149.00,3,acme\n'       # 3: quoted comma
    "p-102,Bad price,lighting,abc,1,acme\n"              # 4
    "p-103,Negative stock,lighting,9.99,-1,acme\n"       # 5
    ",No id,lighting,9.99,1,acme\n"                      # 6
    "p-104,Missing fields\n"                             # 7
    "\n"                                                 # 8: blank, skipped
    "p-105,Too many,lighting,1.00,1,acme,extra\n"        # 9
    " p-106 , Bulb ,lighting,3.5,200,acme\n"             # 10: blanks around values
)


ONE_ROW = b"productId,name,category,price,stock\np-1,A,c,1,1\n"


def bucket_keys(cloud) -> set:
    return {o["Key"] for o in cloud.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_csv_import_writes_good_rows_logs_bad_ones_and_moves_the_file(cloud, products, capsys):
    put_product(cloud, "p-100", 1)  # replaced by the file's row
    key = "incoming/catalogue 2024-03-01.csv"
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=CSV.encode())
    event = s3_event(key)
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/catalogue+2024-03-01.csv"

    summary = products.handler(event, CONTEXT)

    assert summary == {"files": 1, "written": 3, "rejected": 5, "files_rejected": 0}
    stored = {p["productId"]: p for p in scan(cloud.products)}
    assert sorted(stored) == ["p-100", "p-101", "p-106"]
    assert (stored["p-100"]["price"], stored["p-100"]["stock"]) == (Decimal("24.9"), Decimal(12))
    assert isinstance(stored["p-100"]["price"], Decimal)
    assert stored["p-101"]["name"] == "Chair, oak"
    assert (stored["p-106"]["name"], stored["p-106"]["stock"]) == ("Bulb", Decimal(200))
    assert "supplier" not in stored["p-100"]

    assert bucket_keys(cloud) == {"processed/catalogue 2024-03-01.csv"}
    moved = cloud.s3.get_object(Bucket=BUCKET, Key="processed/catalogue 2024-03-01.csv")["Body"].read()
    assert moved == CSV.encode()

    report = log_lines(capsys)[-1]
    assert (report["level"], report["message"], report["movedTo"]) == (
        "WARNING", "file imported", "processed/catalogue 2024-03-01.csv")
    reasons = {r["line"]: r["error"] for r in report["rejections"]}
    assert sorted(reasons) == [4, 5, 6, 7, 9]
    assert "price 'abc'" in reasons[4]
    assert "stock '-1'" in reasons[5]
    assert reasons[6] == "missing productId"
    assert reasons[7] == "missing category"
    assert "7 fields" in reasons[9]

    # Imported products are found through the category index like any other.
    lighting = call(products, api("GET", "/products", query={"category": "lighting"}))[1]["products"]
    assert sorted(p["productId"] for p in lighting) == ["p-100", "p-106"]


def test_csv_rows_are_written_in_batches(cloud, products):
    rows = "".join(f"p-{i:03d},Item {i},bulk,1.{i % 100:02d},{i}\n" for i in range(60))
    body = "productId,name,category,price,stock\n" + rows
    cloud.s3.put_object(Bucket=BUCKET, Key="incoming/bulk.csv", Body=body.encode())
    batches = []
    products.dynamodb.meta.client.meta.events.register(
        "before-parameter-build.dynamodb.BatchWriteItem",
        lambda params, **_: batches.append(len(params["RequestItems"][PRODUCTS_TABLE])))

    assert products.handler(s3_event("incoming/bulk.csv"), CONTEXT)["written"] == 60

    assert batches == [25, 25, 10]
    assert len(scan(cloud.products)) == 60


@pytest.mark.parametrize("body, message", [
    (b"productId,name,price,stock\np-1,Lamp,1.00,1\n", "header lacks column(s): category"),
    (b"productId,name,category,price,stock\np-1,L\xe4mp,lighting,1.00,1\n", "not UTF-8"),
    (b"", "no header row"),
])
def test_an_unreadable_file_writes_nothing_and_is_moved(cloud, products, capsys, body, message):
    cloud.s3.put_object(Bucket=BUCKET, Key="incoming/broken.csv", Body=body)

    summary = products.handler(s3_event("incoming/broken.csv"), CONTEXT)

    assert summary == {"files": 1, "written": 0, "rejected": 0, "files_rejected": 1}
    assert scan(cloud.products) == []
    assert bucket_keys(cloud) == {"processed/broken.csv"}
    report = log_lines(capsys)[-1]
    assert report["level"] == "ERROR" and message in report["fileError"]


def test_a_repeated_event_for_a_moved_file_is_skipped(cloud, products):
    cloud.s3.put_object(Bucket=BUCKET, Key="incoming/a.csv", Body=ONE_ROW)
    event = s3_event("incoming/a.csv")
    assert products.handler(event, CONTEXT)["written"] == 1

    assert products.handler(event, CONTEXT) == {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    assert bucket_keys(cloud) == {"processed/a.csv"}


@pytest.mark.parametrize("key", ["processed/a.csv", "incoming/a.json"])
def test_keys_outside_incoming_csv_are_left_alone(cloud, products, key):
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=ONE_ROW)

    assert products.handler(s3_event(key), CONTEXT)["files"] == 0

    assert bucket_keys(cloud) == {key}
    assert scan(cloud.products) == []


def test_the_s3_test_event_is_ignored(cloud, products):
    summary = products.handler(events.s3_test_event(BUCKET), CONTEXT)

    assert summary == {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}


# --- the order workflow --------------------------------------------------------------------------------

@pytest.mark.parametrize("pass_on", ["whole task output", "Payload only"])
def test_the_three_steps_in_sequence(cloud, shared, monkeypatch, pass_on):
    users = load_service(cloud, monkeypatch, "user_service")
    orders = load_service(cloud, monkeypatch, "order_service")
    products = load_service(cloud, monkeypatch, "product_service")
    put_user(cloud, "u-1")
    put_product(cloud, "p-1", 10)
    put_product(cloud, "p-2", 1)

    def task(service, state):
        # Step Functions passes JSON between states: no Decimal or other Python-only type may survive.
        result = json.loads(json.dumps(service.handler(json.loads(json.dumps(state)), CONTEXT)))
        return lambda_invoke_result(result) if pass_on == "whole task output" else result

    validated = task(users, {"userId": "u-1", "items": ITEMS})
    processed = task(orders, validated)
    done = task(products, processed)

    order_id = scan(cloud.orders)[0]["orderId"]
    result = done["Payload"] if pass_on == "whole task output" else done
    assert result == {"orderId": order_id, "status": "INVENTORY_UPDATED"}
    assert (stock(cloud, "p-1"), stock(cloud, "p-2")) == (8, 0)
    assert cloud.orders.get_item(Key={"orderId": order_id})["Item"]["status"] == "PROCESSING"
