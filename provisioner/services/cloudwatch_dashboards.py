"""CloudWatch dashboards.

Dashboards cannot be tagged and the Tagging API does not cover them, so ownership is written into the
body: every dashboard gets a one-line text widget at the bottom naming project, environment and
resource (the marker). A dashboard counts as ours only when its marker says so. A same-named
dashboard without it is an ownership conflict, never adopted; discovery (for pruning and destroy)
reads the dashboards named {project}-{environment}-* plus those the spec names, and keeps only the
ones whose marker matches. A dashboard given a name: outside that prefix and later removed from the
spec is therefore not pruned (its name is known nowhere any more); destroy with the spec still finds it.
"""
from __future__ import annotations

import json
import re

from provisioner.engine.operations import Call
from provisioner.errors import ProvisionerError
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler
from provisioner.spec.loader import format_path
from provisioner.spec.refs import UNKNOWN, Ref, Template

GRID_COLUMNS, CELL_WIDTH, CELL_HEIGHT = 24, 12, 6
MARKER = re.compile(r"^Managed by provisioner: project=`([^`]+)` environment=`([^`]+)` resource=`([^`]+)`")


def layout(widgets: list) -> list:
    """Widgets with x/y keep them; the others flow below them in rows of 24 columns (12 x 6 each by default,
    so a 2-column grid), in the order written. Deterministic: the same widgets give the same body."""
    widgets = [{"width": CELL_WIDTH, "height": CELL_HEIGHT, **w} for w in widgets]
    placed = [w for w in widgets if "x" in w and "y" in w]
    x, y, row_height = 0, bottom(placed), 0
    for widget in widgets:
        if "x" in widget and "y" in widget:
            continue
        if x and x + widget["width"] > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        widget["x"], widget["y"] = x, y
        x += widget["width"]
        row_height = max(row_height, widget["height"])
    return widgets


def bottom(widgets: list) -> int:
    return max((w["y"] + w["height"] for w in widgets), default=0)


def marker_widget(project: str, environment: str, address: str, y: int) -> dict:
    text = (f"Managed by provisioner: project=`{project}` environment=`{environment}` resource=`{address}`. "
            "Changes made here are overwritten by the next apply.")
    return {"type": "text", "x": 0, "y": y, "width": GRID_COLUMNS, "height": 1,
            "properties": {"markdown": text}}


def marker_tags(body) -> dict:
    """The ownership the marker widget of a dashboard body states, as ownership tags ({} without one)."""
    widgets = body.get("widgets") if isinstance(body, dict) else None
    for widget in widgets if isinstance(widgets, list) else []:
        if not isinstance(widget, dict) or widget.get("type") != "text":
            continue
        properties = widget.get("properties")
        markdown = properties.get("markdown") if isinstance(properties, dict) else None
        match = MARKER.match(markdown) if isinstance(markdown, str) else None
        if match:
            return {"provisioner:project": match.group(1), "provisioner:environment": match.group(2),
                    "provisioner:resource": match.group(3)}
    return {}


def comparable(body):
    """The body with its widgets keyed by position, so drift reads body.widgets.2.properties.title."""
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return body
    return {**body, "widgets": {str(index): widget for index, widget in enumerate(body["widgets"])}}


def unresolved(value, path=()):
    """(path, value) of the first value that must not reach AWS: unknown, a reference, or text with ${."""
    if value is UNKNOWN or isinstance(value, (Ref, Template)):
        return path, value
    if isinstance(value, str):
        return (path, value) if "${" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "${" in key:
            return path + (key,), key
        found = unresolved(item, path + (key,))
        if found:
            return found
    return None


def _parse_body(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


class Dashboards(Reconciler):
    taggable = False   # ownership lives in a marker, not in tags
    kind = "dashboards"
    service = "cloudwatch"
    name_rule = NameRule(r"[A-Za-z0-9_-]+", 1, 255, "a CloudWatch dashboard name", "letters, digits, '_' and '-'")
    rank = 45   # after the alarms its alarm widgets may show
    delete_tier = 2
    missing = ("ResourceNotFound", "ResourceNotFoundException")
    updates = ((frozenset({"body"}), "_put_body"),)

    def validate(self, node, spec):
        widgets = node.props["widgets"] if "widgets" in node.props else node.props["body"]["widgets"]
        where = ("widgets",) if "widgets" in node.props else ("body", "widgets")
        out = [(where + (index,), "give x and y together (or neither: the widget is then laid out in the grid)",
                "error") for index, widget in enumerate(widgets) if ("x" in widget) != ("y" in widget)]
        out.extend((("ignore_changes", index), "the compared field is body (e.g. body.widgets.0)", "error")
                   for index, field in enumerate(node.ignore_changes) if field.split(".", 1)[0] == "widgets")
        return out

    def arn(self, name, ctx):
        return ctx.aws.arn("cloudwatch", f"dashboard/{name}", region=False)

    def desired(self, node, ctx):
        props = node.props
        body = dict(props["body"]) if "body" in props else {"widgets": props["widgets"]}
        widgets = layout(body["widgets"])
        widgets.append(marker_widget(ctx.owner.project, ctx.owner.environment, node.address, bottom(widgets)))
        return {"body": None, "_body": {**body, "widgets": widgets}}

    def normalize(self, desired):
        return {**desired, "body": comparable(desired["_body"])}

    def read(self, node, ctx):
        found = self.get(ctx, "get_dashboard", DashboardName=node.physical_name)
        if found is None:
            return None
        body = _parse_body(found["DashboardBody"])
        return Observed({"body": comparable(body)}, {"arn": found["DashboardArn"], "name": node.physical_name},
                        marker_tags(body))

    def create(self, node, desired, ctx):
        return (yield from self._put_body(node, desired, None, {"body"}, ctx))

    def _put_body(self, node, desired, actual, fields, ctx):
        name, body = node.physical_name, desired["_body"]
        found = unresolved(body)
        if found:
            path, value = found
            raise ProvisionerError(f"dashboard '{name}': body.{format_path(path)} is unresolved ({value}); "
                                   "nothing was sent")
        response = yield Call("cloudwatch", "put_dashboard", {
            "DashboardName": name, "DashboardBody": json.dumps(body, sort_keys=True, separators=(",", ":"))})
        for message in response.get("DashboardValidationMessages", []):
            ctx.warn(f"{node.address}: {message.get('DataPath', '')}: {message.get('Message', '')}")
        return {"arn": self.arn(name, ctx), "name": name}

    # --- delete / discover ---
    def discover(self, ctx):
        client = ctx.client("cloudwatch")
        nodes = [node for node in (ctx.spec.nodes.values() if ctx.spec else []) if node.kind == self.kind]
        names = {node.physical_name for node in nodes}
        prefix = f"{ctx.owner.project}-{ctx.owner.environment}-"
        for page in client.get_paginator("list_dashboards").paginate(DashboardNamePrefix=prefix):
            names.update(entry["DashboardName"] for entry in page.get("DashboardEntries", []))
        names -= {node.physical_name for node in nodes if node.address in ctx.read_in_plan}   # read by the plan
        owned = []
        for name in sorted(names):
            found = self.get(ctx, "get_dashboard", DashboardName=name)
            tags = marker_tags(_parse_body(found["DashboardBody"])) if found else {}
            if ctx.owner.owns(tags):
                owned.append(OwnedResource(self.kind, tags["provisioner:resource"], name, found["DashboardArn"]))
        return owned

    def delete(self, resource, ctx):
        name = resource.physical_id
        found = yield Call("cloudwatch", "get_dashboard", {"DashboardName": name}, "check its marker", missing_ok=True)
        if found is None:
            return
        # between discovery and now someone may have put another dashboard under this name
        if not ctx.owner.owns(marker_tags(_parse_body(found["DashboardBody"]))):
            raise ProvisionerError(f"dashboard '{name}' no longer carries this environment's marker; not deleting it")
        yield Call("cloudwatch", "delete_dashboards", {"DashboardNames": [name]}, missing_ok=True)
