"""Canonical form of IAM-style policy documents, so that drift is semantic.

Statement order, a single string vs a one-element list, account id vs root ARN principals,
"*" vs {"AWS": "*"}, scalar condition values and JSON whitespace are not differences. Statements
are keyed by Sid (or a content hash), so a diff names the statement that changed.
"""
from __future__ import annotations

import hashlib
import json
import re

_ACCOUNT = re.compile(r"^\d{12}$")
DEFAULT_VERSION = "2012-10-17"


def _as_sorted_list(value) -> list:
    values = value if isinstance(value, list) else [value]
    # IAM keeps every value as text, and booleans as "true"/"false" (str(True) would be "True")
    return sorted({json.dumps(v) if isinstance(v, bool) else str(v) for v in values})


def _principal(value):
    if value == "*":
        return {"AWS": ["*"]}
    if not isinstance(value, dict):
        return value
    out = {}
    for kind, ids in value.items():
        normalised = []
        for item in _as_sorted_list(ids):
            if kind == "AWS" and _ACCOUNT.match(item):
                item = f"arn:aws:iam::{item}:root"
            normalised.append(item)
        out[kind] = sorted(normalised)
    return out


def canonical_statement(statement: dict) -> dict:
    out = {"Effect": statement.get("Effect", "Allow")}
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in statement:
            out[key] = _as_sorted_list(statement[key])
    for key in ("Principal", "NotPrincipal"):
        if key in statement:
            out[key] = _principal(statement[key])
    if statement.get("Condition"):
        out["Condition"] = {
            operator: {k: _as_sorted_list(v) for k, v in sorted(conditions.items())}
            for operator, conditions in sorted(statement["Condition"].items())
        }
    return out


def canonical_policy(document) -> dict | None:
    """Canonical dict for a policy given as JSON text or a mapping; None for no policy."""
    if document in (None, "", {}):
        return None
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    keyed = {}
    for statement in statements:
        canonical = canonical_statement(statement)
        key = statement.get("Sid") or "#" + hashlib.sha256(
            json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:8]
        keyed[key] = canonical
    return {"Version": document.get("Version", DEFAULT_VERSION), "Statement": keyed}


def policy_json(document: dict) -> str:
    """The JSON text sent to AWS for a policy written as a mapping (Version added when missing)."""
    document = {"Version": DEFAULT_VERSION, **document}
    return json.dumps(document, separators=(",", ":"), sort_keys=False)
