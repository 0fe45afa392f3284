"""Text and JSON renderings of plans, outcomes and outputs (data in, strings out)."""
from __future__ import annotations

import json

import click
import yaml

from provisioner.engine.diff import ABSENT
from provisioner.engine.plan import CREATE, DELETE, NOOP, REPLACE, UPDATE, Plan
from provisioner.services.base import NOT_RETURNED
from provisioner.spec.refs import UNKNOWN

SYMBOLS = {CREATE: ("+", "green"), UPDATE: ("~", "yellow"), REPLACE: ("-/+", "magenta"),
           DELETE: ("-", "red"), NOOP: (" ", None)}


# fields that hold a JSON document (policies, a state machine's definition, a dashboard), printed indented
DOCUMENT_FIELDS = frozenset({"policy", "policies", "assume_role_policy", "trust_policy", "inline_policies",
                             "definition", "body", "widgets"})


def is_document(path: str, value) -> bool:
    """A JSON document: a non-empty mapping or list in a document field, or a policy (it has a Statement)."""
    return bool(value) and isinstance(value, (dict, list)) and (
        path.split(".", 1)[0] in DOCUMENT_FIELDS or isinstance(value, dict) and "Statement" in value)


def value_text(value, document: bool = False) -> str:
    """One line; a document as indented JSON on several lines."""
    if value is UNKNOWN:
        return "(known after apply)"
    if value is ABSENT:
        return "(absent)"
    if value is NOT_RETURNED:
        return "(not returned)"
    if value is None:
        return "null"
    if document:
        return _indented_json(_as_written(_without_unset(value)))
    if isinstance(value, (dict, list, bool, int, float)):
        return json.dumps(_without_unset(value), sort_keys=True, default=str)
    return str(value)


def _indented_json(value, depth: int = 0) -> str:
    """JSON indented by two spaces a level, except that a part fitting on a short line stays on one (a
    list of plain values on a longer one)."""
    flat = json.dumps(value, default=str)
    plain = isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)
    if not isinstance(value, (dict, list)) or not value or depth and len(flat) + 2 * depth <= (100 if plain else 72):
        return flat
    pad = "  " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {_indented_json(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    items = [pad + _indented_json(v, depth + 1) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"


def _as_written(value):
    """A canonical policy's statements, kept keyed by Sid (or a hash) for the diff, as a list again."""
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _as_written(v) for k, v in value.items()}
    statements = out.get("Statement")
    if isinstance(statements, dict) and "Effect" not in statements:
        out["Statement"] = [s if sid.startswith("#") else {"Sid": sid, **s} for sid, s in statements.items()]
    return out


def _without_unset(value):
    """A whole resource part shown as one value: its unset (null or empty) settings are noise."""
    if isinstance(value, dict):
        return {k: _without_unset(v) for k, v in value.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_without_unset(v) for v in value]
    return value


def json_value(value):
    if value is UNKNOWN:
        return "(known after apply)"
    if value is ABSENT:
        return None
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


class Style:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if self.color and (fg or bold) else text


def _line(text: str, indent: str) -> str:
    """text whose later lines (an indented JSON value) are indented under its first."""
    return text.replace("\n", "\n" + indent)


def _flow(value) -> str:
    """A setting on one line as a spec writes it: {queue: dlq, max_receive_count: 3}."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 30).strip()
    return value_text(value)


def _written_lines(key: str, value, indent: str = "      ") -> list[str]:
    """A setting as the spec gives it: on one line, or a long mapping or list one entry a line, or a
    document as indented JSON."""
    if is_document(key, value):
        return [_line(f"{indent}{key}: {value_text(value, document=True)}", indent)]
    text = _flow(value)
    if len(text) <= 100 or not value:
        return [f"{indent}{key}: {text}"]
    if isinstance(value, dict):
        return [f"{indent}{key}:"] + [f"{indent}  {k}: {_flow(v)}" for k, v in value.items()]
    return [f"{indent}{key}:"] + [f"{indent}  - {_flow(v)}" for v in value]


def _create_lines(change, detail: bool) -> list[str]:
    """A create's settings: as the spec gives them (a generated resource: none, its header names its
    owner), or with detail every field the create sets, defaults and tags included."""
    if detail:
        return [_line(f"      {d.path}: {value_text(d.after, is_document(d.path, d.after))}", "      ")
                for d in change.diffs if d.after is not None]
    written = change.node.written if change.node is not None else {}
    return [line for key, value in written.items() for line in _written_lines(key, value)]


def _without_bytes(value):
    """Binary parameters (a zip package) as their size."""
    if isinstance(value, (bytes, bytearray)):
        return f"({len(value)} bytes)"
    if isinstance(value, dict):
        return {k: _without_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_bytes(v) for v in value]
    return value


def _parameter_text(value, full: bool) -> str:
    value = _without_bytes(value)
    text = value_text(value) if not isinstance(value, str) else value
    return text if full or len(text) <= 80 else text[:77] + "..."


def operation_lines(operations: list, full: bool = False) -> list[str]:
    """The API calls of a change, one a line, with their parameters (shortened unless full)."""
    lines = []
    for operation in operations:
        if operation is None:
            lines.append("      = ... (further calls depend on AWS's answers)")
            continue
        params = ", ".join(f"{k}={_parameter_text(v, full)}" for k, v in operation.params.items())
        purpose = f"  # {operation.purpose}" if getattr(operation, "purpose", "") else ""
        lines.append(f"      = {operation}({params}){purpose}")
    return lines


def plan_text(plan: Plan, style: Style, title: str = "Plan", detail: bool = False, operations_of=None) -> str:
    """The plan for a reader. Creates show the settings the spec gives (detail: every field, with the
    defaults and tags); updates and replacements every field that differs, with AWS's value and the spec's.
    With operations_of(change), each change also lists the API calls it makes (`-v`)."""
    counts = plan.counts()
    lines = [style(f"{title} for {plan.project}/{plan.environment} ({plan.region}): "
                   f"{counts[CREATE]} to create, {counts[UPDATE]} to update, {counts[REPLACE]} to replace, "
                   f"{counts[DELETE]} to delete, {counts[NOOP]} unchanged", bold=True)]
    for change in plan.pending:
        symbol, color = SYMBOLS[change.action]
        header = f"{symbol} {change.address}  ({change.physical_name})"
        if change.reason:
            header += f"  # {change.reason}"
        elif change.node is not None and change.node.owner:
            header += f"  # for {change.node.owner}"
        lines.append(style(header, color))
        if change.action == CREATE:
            lines.extend(_create_lines(change, detail))
        for field_diff in () if change.action == CREATE else change.diffs:
            path, before, after = field_diff.path, field_diff.before, field_diff.after
            lines.append(style(_line(f"    ~ {change.address}.{path}: {value_text(before, is_document(path, before))}"
                                     f" -> {value_text(after, is_document(path, after))}", "      "), color))
        if detail and change.action == DELETE and change.owned is not None and change.owned.arn:
            lines.append(f"      arn: {change.owned.arn}")
        if operations_of is not None:
            lines.extend(style(line, "cyan") for line in operation_lines(operations_of(change), full=detail))
        if change.ignored:
            lines.append(f"      (ignore_changes: {', '.join(change.ignored)})")
        if change.blocked:
            lines.append(style(f"      ! blocked: {change.blocked}", "red"))
    if counts[CREATE] and not detail:
        lines.append("(creates show the settings the spec gives; --detail shows every field, default and tag)")
    if not plan.has_changes and title == "Plan":
        lines.append(style("No changes: AWS matches the spec.", "green"))
    for warning in plan.warnings:
        lines.append(style(f"warning: {warning}", "yellow"))
    return "\n".join(lines)


def plan_json(plan: Plan) -> dict:
    return {
        "project": plan.project, "environment": plan.environment, "region": plan.region,
        "summary": plan.counts(), "in_sync": not plan.has_changes,
        "changes": [{
            "action": c.action, "address": c.address, "kind": c.kind, "physical_name": c.physical_name,
            "reason": c.reason or None, "blocked": c.blocked or None, "ignored": list(c.ignored),
            "fields": [{"path": d.path, "before": json_value(d.before), "after": json_value(d.after)}
                       for d in c.diffs],
        } for c in plan.pending],
        "warnings": list(plan.warnings),
    }


def calls_text(summary: dict) -> str:
    lines = [f"API calls: {summary['total']} ({summary['writes']} writes)"]
    for operation, count in summary["by_operation"].items():
        lines.append(f"  {operation}: {count}")
    return "\n".join(lines)
