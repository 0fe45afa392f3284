"""User service of the microservices environment.

Handler: ``user_service.handler`` (boto3, the standard library and service.py). Two kinds of invocation:

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

  Responses, errors, the body, 404 for an unknown resource, 405 for another method on /users and AWS
  errors are handled as service.py describes.

* Step Functions, the ValidateUser task (arn:aws:states:::lambda:invoke, Payload.$ = $): an event with a
  userId and no httpMethod, e.g. {"userId": "...", "items": [...]}. Returns the event plus {"user": {...}}
  or raises UserNotFound (the error name the state machine's Retry and Catch see). A malformed userId
  raises InvalidInput. The whole output of a previous lambda:invoke task is unwrapped (see service.py).

Environment:
    USERS_TABLE_NAME   users table: partition key userId (S), GSI email-index on email (S)

AWS permissions: dynamodb:PutItem and GetItem on the table, dynamodb:Query on its email-index.
"""
from __future__ import annotations

import re
import uuid

import boto3
import service
from boto3.dynamodb.conditions import Key
from service import (
    ClientFault,
    clean_id,
    handle_api,
    json_body,
    now_iso,
    plain,
    show,
    text_problem,
    unwrap_task_output,
)

SERVICE = "user-service"
EMAIL_INDEX = "email-index"
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200

dynamodb = boto3.resource("dynamodb")
users_table = dynamodb.Table(service.required_env("USERS_TABLE_NAME"))
log = service.Log(SERVICE)


class UserNotFound(Exception):
    """The Step Functions input names a user that does not exist."""


class InvalidInput(ValueError):
    """The Step Functions input cannot be validated (no usable userId)."""


class UnsupportedEvent(ValueError):
    """An event that is neither an API Gateway request nor a ValidateUser task input."""


def handler(event, context):
    log.start(context)
    event = unwrap_task_output(event)
    if isinstance(event, dict) and "httpMethod" in event:
        return handle_api(event, ROUTES, log)
    if isinstance(event, dict) and "userId" in event:
        return validate_user(event)
    log("ERROR", "unsupported event", eventKeys=service.event_shape(event))
    raise UnsupportedEvent("expected an API Gateway proxy request or a ValidateUser input with a userId")


# --- API -----------------------------------------------------------------------------------------------

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
        user_id = clean_id(query["userId"])
        if user_id is None:
            raise ClientFault(400, text_problem("userId", query["userId"]))
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


# --- Step Functions ------------------------------------------------------------------------------------

def validate_user(event: dict) -> dict:
    user_id = clean_id(event.get("userId"))
    if user_id is None:
        raise InvalidInput(text_problem("userId", event.get("userId")))
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
