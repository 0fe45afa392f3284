"""User service of the microservices environment.

Handler: ``user_service.handler`` (boto3 and the standard library only). Two kinds of invocation:

* API Gateway REST API, Lambda proxy integration (payload format 1.0):

    POST /users   Body: {"email", "name"}. email is stripped and lower-cased (so one address is one user
                  whatever its case) and must look like local@domain.tld (at most 254 characters); name is
                  a non-empty string of at most 200 characters. Creates the user with a new userId (UUID4)
                  and createdAt (UTC ISO-8601). 201 the user; 400 a bad body; 409 a user with that email
                  already exists.
                  The email check queries the email-index GSI. A GSI is eventually consistent and cannot
                  take part in a conditional write, so two sign-ups with one address in the same instant
                  can both succeed; GET /users?email= then answers with one of them.
    GET  /users   ?email=ADDRESS looks the user up through email-index; otherwise ?userId=ID reads the
                  item. 200 the user; 400 neither parameter, or a malformed one; 404 no such user.

  Responses are {"statusCode", "headers": {"Content-Type": "application/json"}, "body": JSON}; errors
  are {"error": "..."}. 404 for an unknown resource, 405 for another method on /users. AWS errors are
  logged and re-raised: the invocation fails, API Gateway answers 502 and the function's Errors metric
  counts it.

* Step Functions, the ValidateUser task (arn:aws:states:::lambda:invoke, Payload.$ = $): an event with a
  userId and no httpMethod, e.g. {"userId": "...", "items": [...]}. Returns the event plus {"user": {...}}
  or raises UserNotFound (the error name the state machine's Retry and Catch see). A malformed userId
  raises InvalidInput. If the event is the whole output of a previous lambda:invoke task (the function's
  result under "Payload", next to StatusCode and the SDK metadata), the Payload is used.

Environment:
    USERS_TABLE_NAME   users table: partition key userId (S), GSI email-index on email (S)

AWS permissions: dynamodb:PutItem and GetItem on the table, dynamodb:Query on its email-index.
Logs are one JSON object per line.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Key

SERVICE = "user-service"
EMAIL_INDEX = "email-index"
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
MAX_ID_LENGTH = 128
MAX_BODY_BYTES = 64 * 1024
STEP_FUNCTIONS_WRAPPER_KEYS = ("StatusCode", "ExecutedVersion", "SdkHttpMetadata")


def required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


dynamodb = boto3.resource("dynamodb")
users_table = dynamodb.Table(required_env("USERS_TABLE_NAME"))

_request_id = None


class ClientFault(Exception):
    """A request the API rejects: becomes a 4xx response."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class UserNotFound(Exception):
    """The Step Functions input names a user that does not exist."""


class InvalidInput(ValueError):
    """The Step Functions input cannot be validated (no usable userId)."""


class UnsupportedEvent(ValueError):
    """An event that is neither an API Gateway request nor a ValidateUser task input."""


def handler(event, context):
    global _request_id
    _request_id = getattr(context, "aws_request_id", None)
    event = unwrap_task_output(event)
    if isinstance(event, dict) and "httpMethod" in event:
        return handle_api(event)
    if isinstance(event, dict) and "userId" in event:
        return validate_user(event)
    shape = sorted(event)[:20] if isinstance(event, dict) else type(event).__name__
    log("ERROR", "unsupported event", eventKeys=shape)
    raise UnsupportedEvent("expected an API Gateway proxy request or a ValidateUser input with a userId")


def unwrap_task_output(event):
    """The Payload of a lambda:invoke task output passed on whole; any other event unchanged."""
    while (isinstance(event, dict) and isinstance(event.get("Payload"), dict) and "httpMethod" not in event
           and any(key in event for key in STEP_FUNCTIONS_WRAPPER_KEYS)):
        event = event["Payload"]
    return event


# --- API -----------------------------------------------------------------------------------------------

def handle_api(event: dict) -> dict:
    method = event.get("httpMethod")
    resource = route_of(event)
    log("INFO", "request received", method=method, resource=resource)
    try:
        routes = ROUTES.get(resource)
        if routes is None:
            raise ClientFault(404, f"no route for {resource}")
        action = routes.get(method)
        if action is None:
            allowed = ", ".join(sorted(routes))
            raise ClientFault(405, f"method {method} is not allowed on {resource}", {"Allow": allowed})
        status, payload = action(event)
    except ClientFault as fault:
        log("WARNING", "request rejected", method=method, resource=resource, statusCode=fault.status,
            error=str(fault))
        return response(fault.status, {"error": str(fault)}, fault.headers)
    except Exception as error:
        log("ERROR", "request failed", method=method, resource=resource, error=describe(error))
        raise
    log("INFO", "request handled", method=method, resource=resource, statusCode=status)
    return response(status, payload)


def route_of(event: dict) -> str:
    resource = event.get("resource") or event.get("path") or "/"
    return resource.rstrip("/") or "/"


def create_user(event: dict):
    body = json_body(event)
    email = parse_email(body.get("email"))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ClientFault(400, "name is required and must be a non-empty string")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ClientFault(400, f"name is longer than {MAX_NAME_LENGTH} characters")

    if find_user_id_by_email(email) is not None:
        raise ClientFault(409, f"a user with email {email} already exists")
    user = {"userId": str(uuid.uuid4()), "email": email, "name": name, "createdAt": now_iso()}
    # The condition only guards against a UUID collision; it never fails in practice.
    users_table.put_item(Item=user, ConditionExpression="attribute_not_exists(userId)")
    log("INFO", "user created", userId=user["userId"])
    return 201, user


def get_user(event: dict):
    query = event.get("queryStringParameters") or {}
    if query.get("email") is not None:
        email = parse_email(query["email"])
        user_id = find_user_id_by_email(email)
        user = read_user(user_id) if user_id is not None else None
        if user is None:
            raise ClientFault(404, f"no user with email {email}")
        return 200, user
    if query.get("userId") is not None:
        user_id = clean_user_id(query["userId"])
        if user_id is None:
            raise ClientFault(400, user_id_problem(query["userId"]))
        user = read_user(user_id)
        if user is None:
            raise ClientFault(404, f"no user with userId {user_id}")
        return 200, user
    raise ClientFault(400, "give the query parameter email or userId")


ROUTES = {"/users": {"POST": create_user, "GET": get_user}}


def parse_email(value) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ClientFault(400, "email is required")
    if not isinstance(value, str):
        raise ClientFault(400, "email must be a string")
    email = value.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(email):
        raise ClientFault(400, f"email {show(value)} is not a valid address")
    return email


def clean_user_id(value) -> str | None:
    """The stripped userId, or None when it is not a non-empty string of at most MAX_ID_LENGTH."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_ID_LENGTH:
        return None
    return value.strip()


def user_id_problem(value) -> str:
    return f"userId {show(value)} must be a non-empty string of at most {MAX_ID_LENGTH} characters"


def json_body(event: dict) -> dict:
    raw = event.get("body")
    if raw is None or raw == "":
        raise ClientFault(400, "the request has no body; send a JSON object")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ClientFault(400, "the body is not valid base64") from None
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise ClientFault(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ClientFault(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ClientFault(400, "the body must be a JSON object")
    return body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


# --- Step Functions ------------------------------------------------------------------------------------

def validate_user(event: dict) -> dict:
    user_id = clean_user_id(event.get("userId"))
    if user_id is None:
        raise InvalidInput(user_id_problem(event.get("userId")))
    user = read_user(user_id)
    if user is None:
        log("WARNING", "user not found", step="ValidateUser", userId=user_id)
        raise UserNotFound(f"user {user_id} does not exist")
    log("INFO", "user validated", step="ValidateUser", userId=user_id)
    return {**event, "user": plain(user)}


# --- DynamoDB ------------------------------------------------------------------------------------------

def find_user_id_by_email(email: str) -> str | None:
    result = users_table.query(IndexName=EMAIL_INDEX, KeyConditionExpression=Key("email").eq(email),
                               ProjectionExpression="userId", Limit=1)
    items = result.get("Items") or []
    return items[0]["userId"] if items else None


def read_user(user_id: str) -> dict | None:
    return users_table.get_item(Key={"userId": user_id}, ConsistentRead=True).get("Item")


# --- output --------------------------------------------------------------------------------------------

def plain(value):
    """DynamoDB values made JSON-ready: Decimal becomes int when integral, float otherwise; sets lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def response(status: int, payload, headers: dict | None = None) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(plain(payload))}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def log(level: str, message: str, **fields) -> None:
    record = {"timestamp": now_iso(), "level": level, "service": SERVICE, "message": message}
    if _request_id:
        record["requestId"] = _request_id
    record.update(fields)
    print(json.dumps(record, default=str))
