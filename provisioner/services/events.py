"""Amazon EventBridge rules on the default event bus, with their targets (keyed by target id).

Function, queue and topic targets and dead-letter queues are deliveries of the rule: the function
gets an invoke permission, the queue or topic a policy statement, and the key encrypting it a
service statement, each limited to this rule's ARN. State machine targets share a generated role
(iam_roles.RULE-events-role) that may start exactly those machines. Rules are discovered with
ListRules and their tags, like IAM roles.
"""
from __future__ import annotations

import json
import re

from provisioner.engine.operations import Call
from provisioner.errors import ProvisionerError
from provisioner.services.base import NameRule, Observed, Reconciler
from provisioner.services.delivery import Delivery
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref

SERVICE = "events.amazonaws.com"
TARGET_FIELDS = ("function", "sqs_queue", "sns_topic", "state_machine")
DELIVERED_FIELDS = ("function", "sqs_queue", "sns_topic", "dead_letter_queue")   # resource policies, not the role
INPUT_FIELDS = ("input", "input_path", "input_transformer")
BUILTIN_PLACEHOLDERS = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event", "aws.events.event.json",
                        "aws.events.event.ingestion-time")
RULE_FIELDS = ("description", "schedule", "event_pattern", "enabled")
RATE_UNITS = ("minute", "hour", "day")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# field name, lowest and highest value, names standing for low, low + 1, ...
CRON_FIELDS = (("minutes", 0, 59, ()), ("hours", 0, 23, ()), ("day-of-month", 1, 31, ()),
               ("month", 1, 12, MONTHS), ("day-of-week", 1, 7, WEEKDAYS), ("year", 1970, 2199, ()))


def role_name(rule: str) -> str:
    return f"{rule}-events-role"


# --- schedule expressions ---

def schedule_problem(expression: str) -> str | None:
    """What is wrong with an EventBridge schedule expression, or None."""
    if expression.startswith("rate("):
        return _rate_problem(expression)
    if expression.startswith("cron("):
        return _cron_problem(expression)
    return f"'{expression}' is neither rate(VALUE UNIT) nor cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)"


def _rate_problem(expression: str) -> str | None:
    match = re.fullmatch(r"rate\((\S+) (\S+)\)", expression)
    if not match:
        return f"'{expression}': expected rate(VALUE UNIT), e.g. rate(5 minutes)"
    value, unit = match.groups()
    if not value.isdigit() or int(value) == 0:
        return f"'{expression}': the rate value must be a whole number of at least 1, got '{value}'"
    singular = unit.removesuffix("s")
    if singular not in RATE_UNITS:
        return f"'{expression}': unknown unit '{unit}'; use minute(s), hour(s) or day(s)"
    wanted = singular if int(value) == 1 else singular + "s"
    if unit != wanted:
        return f"'{expression}': write '{value} {wanted}' (singular for 1, plural otherwise)"
    return None


def _cron_problem(expression: str) -> str | None:
    match = re.fullmatch(r"cron\((.*)\)", expression)
    fields = match.group(1).split() if match else []
    if len(fields) != len(CRON_FIELDS):
        return (f"'{expression}' has {len(fields)} fields; EventBridge cron takes 6: minutes hours day-of-month "
                "month day-of-week year, e.g. cron(0 3 * * ? *)")
    for (name, low, high, names), text in zip(CRON_FIELDS, fields, strict=True):
        for part in text.split(","):
            problem = _cron_part_problem(name, part, low, high, names)
            if problem:
                return f"'{expression}': {problem}"
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return (f"'{expression}': exactly one of day-of-month ('{day_of_month}') and day-of-week "
                f"('{day_of_week}') must be '?'")
    return None


def _cron_part_problem(name: str, part: str, low: int, high: int, names: tuple) -> str | None:
    """One comma-separated part of a cron field: *, a value, a range, with /increment, or a day wildcard."""
    days = name in ("day-of-month", "day-of-week")
    if part in ("?", "L") and days:
        return None
    if name == "day-of-month" and part.endswith("W"):   # the weekday nearest to that day
        return _cron_value_problem(name, part[:-1], low, high, names)
    if name == "day-of-week" and (part.endswith("L") or "#" in part):   # the last / the n-th such weekday
        value, _, nth = part.removesuffix("L").partition("#")
        if "#" in part and nth not in ("1", "2", "3", "4", "5"):
            return f"day-of-week '{part}': the week after # must be 1-5"
        return _cron_value_problem(name, value, low, high, names)
    base, slash, increment = part.partition("/")
    if slash and not (increment.isdigit() and int(increment) > 0):
        return f"{name} increment '{increment}' must be a whole number of at least 1"
    if base == "*":
        return None
    for value in base.split("-", 1):
        problem = _cron_value_problem(name, value, low, high, names)
        if problem:
            return problem
    return None


def _cron_value_problem(name: str, value: str, low: int, high: int, names: tuple) -> str | None:
    if value.upper() in names:
        return None
    allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
    if not value.isdigit():
        return f"{name} value '{value}' is not valid (expected {allowed})"
    if not low <= int(value) <= high:
        return f"{name} value '{value}' is out of range {allowed}"
    return None


def _placeholders(template: str) -> list[str]:
    """The <name> placeholders of an input template."""
    return re.findall(r"<([A-Za-z0-9_.-]+)>", template)


def _check_entries(response: dict, call: str) -> None:
    """PutTargets and RemoveTargets answer 200 and list the targets they could not write."""
    failed = "; ".join(f"{e.get('TargetId')}: {e.get('ErrorCode')}: {e.get('ErrorMessage')}"
                       for e in response.get("FailedEntries") or [])
    if failed:
        raise ProvisionerError(f"{call} failed for {failed}")


class EventRules(Reconciler):
    kind = "event_rules"
    service = "events"
    name_rule = NameRule(r"[A-Za-z0-9._-]+", 1, 64, "an EventBridge rule name", "letters, digits, '.', '_' and '-'")
    rank = 38   # after the functions, queues, topics and state machines it targets
    delete_tier = 2
    missing = ("ResourceNotFoundException",)
    tag_api = TagApi("events", "ResourceARN")
    updates = ((frozenset(RULE_FIELDS), "_put_rule"), (frozenset({"targets"}), "_update_targets"))

    # --- spec time ---
    def companions(self, node, spec):
        machines = dict.fromkeys(t["state_machine"] for t in node.props["targets"].values() if "state_machine" in t)
        if not machines:
            return []
        grants = [{"state_machine": machine, "access": "start"} for machine in machines]
        node.props["role"] = Ref(f"iam_roles.{role_name(node.name)}", "arn")
        return [("iam_roles", role_name(node.name), {
            "name": f"{node.physical_name}-events",
            "description": f"Role EventBridge assumes to start the state machines of rule {node.physical_name}",
            "services": [SERVICE],
            "grants": grants})]

    def validate(self, node, spec):
        props, out = node.props, []
        if "schedule" in props:
            problem = schedule_problem(props["schedule"])
            if problem:
                out.append((("schedule",), problem, "error"))
        if not props["targets"]:
            out.append((("targets",), "the rule has no targets: what it matches goes nowhere", "warning"))
        for target_id, target in props["targets"].items():
            inputs = [field for field in INPUT_FIELDS if field in target]
            if len(inputs) > 1:
                out.append((("targets", target_id, inputs[1]), f"give at most one of {', '.join(INPUT_FIELDS)} "
                                                               f"(this target has {' and '.join(inputs)})", "error"))
            transformer = target.get("input_transformer", {})
            for name in _placeholders(transformer.get("input_template", "")):
                if name not in transformer["input_paths"] and name not in BUILTIN_PLACEHOLDERS:
                    known = ", ".join(transformer["input_paths"]) or "none"
                    out.append((("targets", target_id, "input_transformer", "input_template"),
                                f"<{name}> is not one of input_paths ({known})", "error"))
            for field, message in (("sqs_queue", "a FIFO queue target needs a message group id, which rules here "
                                                 "do not set; use a standard queue"),
                                   ("dead_letter_queue", "EventBridge dead-letter queues must be standard queues")):
                queue = spec.nodes.get(target[field].address) if field in target else None
                if queue is not None and queue.props["fifo"]:
                    out.append((("targets", target_id, field), message, "error"))
        return out

    def deliveries(self, node, spec):
        receivers = {target[field].address for target in node.props["targets"].values()
                     for field in DELIVERED_FIELDS if isinstance(target.get(field), Ref)}
        return [Delivery(address, SERVICE, node.address, Ref(node.address, "arn")) for address in sorted(receivers)]

    def arn(self, name: str, ctx) -> str:
        return ctx.aws.arn("events", f"rule/{name}")

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "arn": self.arn(node.physical_name, ctx)}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        return {
            "description": props["description"],
            "schedule": props.get("schedule"),
            "event_pattern": props.get("event_pattern"),
            "enabled": props["enabled"],
            "targets": {target_id: self._target(target, props) for target_id, target in props["targets"].items()},
        }

    def _target(self, target: dict, props: dict) -> dict:
        return {
            "arn": next(target[field] for field in TARGET_FIELDS if field in target),
            "input": target.get("input"),
            "input_path": target.get("input_path"),
            "input_transformer": dict(target["input_transformer"]) if "input_transformer" in target else None,
            "retry": dict(target["retry"]),   # max_attempts, max_event_age_seconds
            "dead_letter_queue": target.get("dead_letter_queue"),
            "role": props["role"] if "state_machine" in target else None,
        }

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("events")
        name = node.physical_name
        found = self.get(ctx, "describe_rule", Name=name)
        if found is None:
            return None
        arn = found["Arn"]
        tags = self.tag_api.read(ctx, arn, self.missing)   # the Tagging API pass has no rules (see discover)
        targets = {target["Id"]: self._read_target(target)
                   for page in client.get_paginator("list_targets_by_rule").paginate(Rule=name)
                   for target in page["Targets"]}
        state = found.get("State")
        props = {
            "description": found.get("Description", ""),
            "schedule": found.get("ScheduleExpression"),
            "event_pattern": json.loads(found["EventPattern"]) if found.get("EventPattern") else None,
            "enabled": {"ENABLED": True, "DISABLED": False}.get(state, state),
            "targets": targets,
            "tags": tags,
        }
        return Observed(props, {"arn": arn, "name": name}, tags)

    def _read_target(self, target: dict) -> dict:
        retry, transformer = target.get("RetryPolicy"), target.get("InputTransformer")
        return {
            "arn": target["Arn"],
            "input": json.loads(target["Input"]) if "Input" in target else None,
            "input_path": target.get("InputPath"),
            "input_transformer": {"input_paths": transformer.get("InputPathsMap", {}),
                                  "input_template": transformer.get("InputTemplate")} if transformer else None,
            "retry": {"max_attempts": retry.get("MaximumRetryAttempts"),
                      "max_event_age_seconds": retry.get("MaximumEventAgeInSeconds")} if retry else None,
            "dead_letter_queue": target.get("DeadLetterConfig", {}).get("Arn"),
            "role": target.get("RoleArn"),
        }

    # --- write ---
    def _rule_request(self, node, desired) -> dict:
        """PutRule replaces the whole rule: every setting goes in every call."""
        request = {"Name": node.physical_name, "State": "ENABLED" if desired["enabled"] else "DISABLED",
                   "Description": desired["description"]}
        if desired["schedule"]:
            request["ScheduleExpression"] = desired["schedule"]
        else:
            request["EventPattern"] = json.dumps(desired["event_pattern"], sort_keys=True)
        return request

    def _put_rule(self, node, desired, actual, fields, ctx):
        yield Call("events", "put_rule", self._rule_request(node, desired), "set " + ", ".join(sorted(fields)))

    def _put_targets(self, node, targets: dict):
        if not targets:
            return
        request = []
        for target_id, target in sorted(targets.items()):
            entry = {"Id": target_id, "Arn": target["arn"],
                     "RetryPolicy": {"MaximumRetryAttempts": target["retry"]["max_attempts"],
                                     "MaximumEventAgeInSeconds": target["retry"]["max_event_age_seconds"]}}
            if target["input"] is not None:
                entry["Input"] = json.dumps(target["input"], sort_keys=True)
            if target["input_path"] is not None:
                entry["InputPath"] = target["input_path"]
            if target["input_transformer"] is not None:
                entry["InputTransformer"] = {"InputPathsMap": target["input_transformer"]["input_paths"],
                                             "InputTemplate": target["input_transformer"]["input_template"]}
            if target["dead_letter_queue"]:
                entry["DeadLetterConfig"] = {"Arn": target["dead_letter_queue"]}
            if target["role"]:
                entry["RoleArn"] = target["role"]
            request.append(entry)
        _check_entries((yield Call("events", "put_targets", {"Rule": node.physical_name, "Targets": request},
                                   "put targets " + ", ".join(sorted(targets)))), "PutTargets")

    def _remove_targets(self, name: str, ids: list, missing_ok: bool = False):
        answer = yield Call("events", "remove_targets", {"Rule": name, "Ids": ids}, "remove targets " + ", ".join(ids),
                            missing_ok=missing_ok)
        if answer is not None:
            _check_entries(answer, "RemoveTargets")
        return answer

    def create(self, node, desired, ctx):
        request = {**self._rule_request(node, desired), "Tags": self.tag_api.format(desired["tags"])}
        arn = (yield Call("events", "put_rule", request))["RuleArn"]
        yield from self._put_targets(node, desired["targets"])
        return {"arn": arn}

    def _update_targets(self, node, desired, actual, fields, ctx):
        have = actual.props["targets"]
        removed = sorted(set(have) - set(desired["targets"]))
        if removed:
            yield from self._remove_targets(node.physical_name, removed)
        yield from self._put_targets(node, {target_id: target for target_id, target in desired["targets"].items()
                                            if have.get(target_id) != target})

    # --- delete / discover ---
    def delete(self, resource, ctx):
        name = resource.physical_id
        listed = self.get(ctx, "list_targets_by_rule", Rule=name)   # a rule has at most 5 targets: one page
        if listed is None:
            return
        ids = [target["Id"] for target in listed["Targets"]]
        # a rule with targets cannot be deleted
        if ids and (yield from self._remove_targets(name, ids, missing_ok=True)) is None:
            return
        yield Call("events", "delete_rule", {"Name": name}, missing_ok=True)

    def discover(self, ctx):
        """moto's Resource Groups Tagging API returns no rules (AWS's does): ListRules, then tags, on both."""
        client = ctx.client("events")
        rules = [(rule["Name"], rule["Arn"]) for page in client.get_paginator("list_rules").paginate()
                 for rule in page["Rules"]]
        return self.owned_among(ctx, rules, lambda _, arn: self.tag_api.read(ctx, arn, self.missing))
