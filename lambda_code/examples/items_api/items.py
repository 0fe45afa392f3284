"""Items behind API Gateway: GET /items/{id} as a proxy integration, POST /items as a non-proxy integration
whose request template passes {"item": <body>} and whose responses map '[BadRequest]' errors to 400."""
from __future__ import annotations

import json
import os

import boto3

_table = None


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    return _table


def get_handler(event, context):
    """Proxy: the whole request in, statusCode/body out."""
    item_id = (event.get("pathParameters") or {}).get("id")
    found = table().get_item(Key={"id": item_id}).get("Item") if item_id else None
    if found is None:
        return {"statusCode": 404, "body": json.dumps({"error": "not found"})}
    return {"statusCode": 200, "body": json.dumps(found, default=str)}


def create_handler(event, context):
    """Non-proxy: the request template gives {"item": {...}}; an error message starting with [BadRequest] is the
    400 response, anything returned is the 200 response."""
    item = event.get("item") if isinstance(event, dict) else None
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise ValueError("[BadRequest] an item needs an id")
    table().put_item(Item=item)
    return {"item": item}
