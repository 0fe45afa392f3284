"""AWS Step Functions state machines: an Amazon States Language definition written in YAML, its
${...} references resolved before the call, drift compared on the parsed definition (not its text).

A state machine implies two more resources, built as ordinary nodes: unless `role:` names the user's
own, a role compiled from the integrations its tasks name (lambda:invoke on exactly the referenced
functions, sqs:sendMessage, sns:publish and DynamoDB item calls on exactly the referenced queue, topic or
table), plus log delivery and X-Ray when those are on, plus its hand-written `policies`; and, unless
logging is OFF, its log group /aws/vendedlogs/states/NAME.
"""
from __future__ import annotations

import json

from provisioner.engine.operations import Call
from provisioner.services.base import NameRule, Observed, Reconciler
from provisioner.services.states_definition import (
    definition_grants,
    load_definition,
    structure_problems,
    task_problems,
    tasks,
)
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref, Template, find_refs

LOG_DELIVERY_ACTIONS = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups",
                        "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy", "logs:UpdateLogDelivery"]
XRAY_ACTIONS = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords",
                "xray:PutTraceSegments"]
GENERATED_POLICIES = ("logging", "xray", "grants")   # inline policies of the generated role


def logging_level(node) -> str:
    """The logging level; YAML reads an unquoted OFF as false."""
    level = node.props["logging"]["level"]
    return "OFF" if level is False else level


def role_name(machine: str) -> str:
    return f"{machine}-role"


def log_group_name(machine: str) -> str:
    return f"{machine}-logs"


class StateMachines(Reconciler):
    kind = "state_machines"
    service = "stepfunctions"
    name_rule = NameRule(r"[A-Za-z0-9_.-]+", 1, 80, "a state machine name", "letters, digits, '.', '_' and '-'")
    immutable = frozenset({"type"})
    derived_fields = frozenset({"role"})
    tagging_type = "states:stateMachine"
    rank = 35
    delete_tier = 2
    opt_outs = ((("logging", "level"), "OFF", "no execution logs (FSBP StepFunctions.1)"),
                (("logging", "level"), False, "no execution logs (FSBP StepFunctions.1)"))
    missing = ("StateMachineDoesNotExist",)
    tag_api = TagApi("stepfunctions", "resourceArn", tags_param="tags", keys_param="tagKeys", key="key",
                     value="value", listed="tags")
    updates = ((frozenset({"definition", "role", "logging", "tracing"}), "_update_configuration"),)

    # --- spec time ---
    def companions(self, node, spec):
        props, out = node.props, []
        if "definition_file" in props:
            props["definition"], props["_definition_error"] = load_definition(spec, node)
        logging = props["logging"]
        policies = {}
        if logging_level(node) != "OFF" and "log_group" in logging:   # the user's: an ARN or a Ref to its arn
            group = logging["log_group"]
            props["log_group"] = group.removesuffix(":*") if isinstance(group, str) else group
        elif logging_level(node) != "OFF":
            out.append(("log_groups", log_group_name(node.name), {
                # the vendedlogs prefix keeps CloudWatch Logs resource policies small (AWS advice)
                "name": f"/aws/vendedlogs/states/{node.physical_name}",
                **{key: logging[key] for key in ("retention_days", "kms_key") if key in logging}}))
            props["log_group"] = Ref(f"log_groups.{log_group_name(node.name)}", "arn")
        if logging_level(node) != "OFF":
            # log delivery goes through CloudWatch Logs' vended-log calls, which only take "*"
            policies["logging"] = {"Version": "2012-10-17", "Statement": [
                {"Sid": "LogDelivery", "Effect": "Allow", "Action": LOG_DELIVERY_ACTIONS, "Resource": "*"}]}
        if "role" in props:   # the user's own role: it carries everything the machine needs
            return out
        if props["tracing"]:
            policies["xray"] = {"Version": "2012-10-17", "Statement": [
                {"Sid": "Tracing", "Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"}]}
        policies.update(props["policies"])
        grants = list(props["grants"])
        grants += [g for g in definition_grants(props["definition"]) if g not in grants]
        out.append(("iam_roles", role_name(node.name), {
            "name": node.physical_name,
            "description": f"Execution role of state machine {node.physical_name}",
            "services": ["states.amazonaws.com"],
            "grants": grants,
            "policies": policies}))
        props["role"] = Ref(f"iam_roles.{role_name(node.name)}", "arn")
        return out

    def dependencies(self, node, spec, referenced):
        """Grants go into the role, which orders itself; the machine waits for what its definition names."""
        elsewhere = {ref.address for _, ref in find_refs({k: v for k, v in node.props.items() if k != "grants"})}
        return {address for address in referenced if address in elsewhere}

    def validate(self, node, spec):
        if node.props.get("_definition_error"):
            return [(("definition_file",), node.props["_definition_error"], "error")]
        out = []
        logging = node.props["logging"]
        if "log_group" in logging:
            out.extend((("logging", key), f"{key} belongs to the log group named by log_group; set it there",
                        "error") for key in ("retention_days", "kms_key") if key in logging)
        if self._own_role(node):
            out.extend(((field,), f"{field} go into the generated role; with role: give them to that role", "error")
                       for field in ("grants", "policies") if node.props[field])
        out.extend((("policies", name), f"policy name '{name}' is the generated role's own; choose another", "error")
                   for name in node.props["policies"] if name in GENERATED_POLICIES)
        out.extend(structure_problems(node.props["definition"]))
        express = node.props["type"] == "EXPRESS"
        role_has_more = bool(node.props["grants"] or node.props["policies"] or self._own_role(node))
        for state_path, name, state in tasks(node.props["definition"]):
            out.extend(task_problems(state_path, name, state, express, role_has_more))
        return out

    @staticmethod
    def _own_role(node) -> bool:
        role = node.props.get("role")
        return not (isinstance(role, Ref) and role.address == f"iam_roles.{role_name(node.name)}")

    def arn(self, name: str, ctx) -> str:
        return ctx.aws.arn("states", f"stateMachine:{name}")

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "arn": self.arn(node.physical_name, ctx)}

    def matches_arn(self, arn):
        parts = arn.split(":")
        return len(parts) == 7 and parts[2] == "states" and parts[5] == "stateMachine"

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        logging, level = props["logging"], logging_level(node)
        on = level != "OFF"
        return {
            "type": props["type"],
            "definition": props["definition"],
            "role": props["role"],
            "logging": {"level": level,
                        "include_execution_data": logging["include_execution_data"] if on else False,
                        # AWS wants the log group ARN with its ":*" suffix here
                        "destination": Template((props["log_group"], ":*")) if on else None},
            "tracing": props["tracing"],
        }

    # --- read ---
    def read(self, node, ctx):
        arn = self.arn(node.physical_name, ctx)
        found = self.get(ctx, "describe_state_machine", stateMachineArn=arn)
        if found is None or found.get("status") == "DELETING":
            return None
        tags = self.read_tags(ctx, arn)
        logging = found.get("loggingConfiguration") or {}
        level = logging.get("level", "OFF")
        destinations = [d.get("cloudWatchLogsLogGroup", {}).get("logGroupArn")
                        for d in logging.get("destinations") or []]
        props = {
            "type": found["type"],
            "definition": json.loads(found["definition"]),
            "role": found["roleArn"],
            "logging": {"level": level,
                        "include_execution_data": level != "OFF" and bool(logging.get("includeExecutionData")),
                        "destination": destinations[0] if destinations and level != "OFF" else None},
            "tracing": bool((found.get("tracingConfiguration") or {}).get("enabled")),
            "tags": tags,
        }
        return Observed(props, {"arn": found["stateMachineArn"], "name": found["name"]}, tags)

    # --- write ---
    def _configuration(self, desired) -> dict:
        logging = desired["logging"]
        logging_request = {"level": logging["level"]}
        if logging["destination"]:
            logging_request.update(includeExecutionData=logging["include_execution_data"],
                                   destinations=[{"cloudWatchLogsLogGroup": {"logGroupArn": logging["destination"]}}])
        return {"definition": json.dumps(desired["definition"]), "roleArn": desired["role"],
                "loggingConfiguration": logging_request, "tracingConfiguration": {"enabled": desired["tracing"]}}

    def create(self, node, desired, ctx):
        created = yield Call("stepfunctions", "create_state_machine", {
            "name": node.physical_name, "type": desired["type"], "tags": self.tag_api.format(desired["tags"]),
            **self._configuration(desired)})
        return {"arn": created.get("stateMachineArn") or self.arn(node.physical_name, ctx)}

    def _update_configuration(self, node, desired, actual, fields, ctx):
        yield Call("stepfunctions", "update_state_machine",
                   {"stateMachineArn": actual.outputs["arn"], **self._configuration(desired)},
                   "set " + ", ".join(sorted(fields)))

    # --- delete ---
    def delete(self, resource, ctx):
        arn = resource.arn or self.arn(resource.physical_id, ctx)
        yield Call("stepfunctions", "delete_state_machine", {"stateMachineArn": arn}, missing_ok=True)
