"""Text and JSON renderings of plans, outcomes and outputs (data in, strings out)."""
from __future__ import annotations

import json

import click

from provisioner.plan import ABSENT, CREATE, DELETE, NOOP, REPLACE, UPDATE, Plan
from provisioner.reconcilers.base import NOT_RETURNED
from provisioner.spec.refs import UNKNOWN

SYMBOLS = {CREATE: ("+", "green"), UPDATE: ("~", "yellow"), REPLACE: ("-/+", "magenta"),
           DELETE: ("-", "red"), NOOP: (" ", None)}


def value_text(value) -> str:
    if value is UNKNOWN:
        return "(known after apply)"
    if value is ABSENT:
        return "(absent)"
    if value is NOT_RETURNED:
        return "(not returned)"
    if value is None:
        return "null"
    if isinstance(value, (dict, list, bool, int, float)):
        return json.dumps(_without_unset(value), sort_keys=True, default=str)
    return str(value)


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


def plan_text(plan: Plan, style: Style, title: str = "Plan") -> str:
    counts = plan.counts()
    lines = [style(f"{title} for {plan.project}/{plan.environment} ({plan.region}): "
                   f"{counts[CREATE]} to create, {counts[UPDATE]} to update, {counts[REPLACE]} to replace, "
                   f"{counts[DELETE]} to delete, {counts[NOOP]} unchanged", bold=True)]
    for change in plan.pending:
        symbol, color = SYMBOLS[change.action]
        header = f"{symbol} {change.address}  ({change.physical_name})"
        if change.reason:
            header += f"  # {change.reason}"
        lines.append(style(header, color))
        for field_diff in change.diffs:
            if change.action == CREATE:
                if field_diff.after is None:
                    continue
                lines.append(f"      {field_diff.path}: {value_text(field_diff.after)}")
            else:
                lines.append(style(f"    ~ {change.address}.{field_diff.path}: "
                                   f"{value_text(field_diff.before)} -> {value_text(field_diff.after)}", color))
        if change.ignored:
            lines.append(f"      (ignore_changes: {', '.join(change.ignored)})")
        if change.blocked:
            lines.append(style(f"      ! blocked: {change.blocked}", "red"))
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
