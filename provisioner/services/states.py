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
import re
from pathlib import Path

import yaml

from provisioner.aws.errors import missing_is_done, unless_missing
from provisioner.aws.retries import eventually
from provisioner.policy.grants import TARGETS
from provisioner.services.base import (
    NameRule,
    Observed,
    Reconciler,
    changed_fields,
    retag,
    tags_from_list,
    tags_to_list,
)
from provisioner.spec.refs import Ref, RefSyntaxError, Template, find_refs, parse_string

NOT_FOUND = ("StateMachineDoesNotExist",)
# A role (or a policy) created seconds ago is not yet usable by Step Functions; AWS says so with
# AccessDeniedException and one of these messages (a missing trust or permission says the same, so
# the retries are bounded).
ROLE_NOT_READY = ("AccessDeniedException",)
ROLE_NOT_READY_MESSAGES = ("authorized to assume the provided role", "not authorized to access the Log Destination")
DELETING = ("StateMachineDeleting",)   # a replaced machine of the same name is still being deleted
LOG_DELIVERY_ACTIONS = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups",
                        "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy", "logs:UpdateLogDelivery"]
XRAY_ACTIONS = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords",
                "xray:PutTraceSegments"]
SERVICE_INTEGRATION = re.compile(r"arn:[\w-]+:states:::(?P<name>[\w:-]+?)(?P<pattern>\.sync(:2)?|\.waitForTaskToken)?")
RAW_LAMBDA_ARN = re.compile(r"arn:[\w-]+:lambda:[^:]*:[^:]*:function:.+")
LAMBDA_INVOKE = "lambda:invoke"
# integration -> (parameter naming its target, grant field, grant access)
INTEGRATIONS = {
    LAMBDA_INVOKE: ("FunctionName", "function", "invoke"),
    "sqs:sendMessage": ("QueueUrl", "sqs_queue", "send"),
    "sns:publish": ("TopicArn", "sns_topic", "publish"),
    "dynamodb:getItem": ("TableName", "dynamodb_table", "read"),
    "dynamodb:putItem": ("TableName", "dynamodb_table", "write"),
    "dynamodb:updateItem": ("TableName", "dynamodb_table", "write"),
    "dynamodb:deleteItem": ("TableName", "dynamodb_table", "write"),
}
GENERATED_POLICIES = ("logging", "xray", "grants")   # inline policies of the generated role
TERMINAL_TYPES = ("Choice", "Succeed", "Fail")   # states that take neither Next nor End


def logging_level(node) -> str:
    """The logging level; YAML reads an unquoted OFF as false."""
    level = node.props["logging"]["level"]
    return "OFF" if level is False else level


def role_name(machine: str) -> str:
    return f"{machine}-role"


def log_group_name(machine: str) -> str:
    return f"{machine}-logs"


def load_definition(spec, node) -> tuple[dict, str | None]:
    """The definition of definition_file, its ${NAME} placeholders filled from definition_substitutions and its
    ${...} references parsed; or ({}, what is wrong)."""
    file = node.props["definition_file"]
    path = Path(spec.file).resolve().parent / file
    try:
        definition = yaml.safe_load(path.read_text())   # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        return {}, f"definition_file '{file}' cannot be read: {exc}"
    if not isinstance(definition, dict):
        return {}, f"definition_file '{file}' must hold a mapping (StartAt, States, ...)"
    values = {name: str(value).lower() if isinstance(value, bool) else str(value)
              for name, value in node.props["definition_substitutions"].items()}

    def parse(value):
        if isinstance(value, str):
            return parse_string(re.sub(r"\$\{([A-Za-z0-9_]+)\}",
                                       lambda m: values.get(m.group(1), m.group(0)), value))
        if isinstance(value, dict):
            return {key: parse(item) for key, item in value.items()}
        return [parse(item) for item in value] if isinstance(value, list) else value
    try:
        return parse(definition), None
    except RefSyntaxError as exc:
        return {}, f"definition_file '{file}': {exc} (a ${{NAME}} placeholder needs definition_substitutions)"


# --- walking a definition ---

def _states_of(machine: dict) -> dict:
    states = machine.get("States")
    return states if isinstance(states, dict) else {}


def machines(definition: dict, path: tuple = ("definition",)):
    """(path, machine) for the definition and every Parallel branch and Map processor inside it."""
    yield path, definition
    for name, state in _states_of(definition).items():
        if not isinstance(state, dict):
            continue
        for index, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                yield from machines(branch, path + ("States", name, "Branches", index))
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from machines(state[key], path + ("States", name, key))


def tasks(definition: dict):
    """(path, name, state) of every Task state, nested ones included."""
    for path, machine in machines(definition):
        for name, state in _states_of(machine).items():
            if isinstance(state, dict) and state.get("Type") == "Task":
                yield path + ("States", name), name, state


def integration(resource) -> tuple[str, str] | None:
    """(name, pattern) of a service integration Resource: ("sqs:sendMessage", ".waitForTaskToken")."""
    if not isinstance(resource, str):
        return None
    match = SERVICE_INTEGRATION.fullmatch(resource)
    return (match.group("name"), match.group("pattern") or "") if match else None


def _parameters_key(state: dict) -> str | None:
    """Parameters (JSONPath) or Arguments (JSONata), whichever the state has."""
    return next((key for key in ("Parameters", "Arguments") if isinstance(state.get(key), dict)), None)


def _parameters(state: dict) -> dict:
    key = _parameters_key(state)
    return state[key] if key else {}


def _target_grants(state: dict) -> list[dict]:
    """Grants on the spec resources the task's integration acts on (Refs in its target parameter)."""
    found = integration(state.get("Resource"))
    if not found or found[0] not in INTEGRATIONS:
        return []
    parameter, field, access = INTEGRATIONS[found[0]]
    return [{field: Ref(ref.address, "arn"), "access": access}
            for _, ref in find_refs(_parameters(state).get(parameter)) if ref.kind == TARGETS[field]]


def definition_grants(definition: dict) -> list[dict]:
    """Grants for exactly the resources the definition's integrations name, in definition order."""
    grants = []
    for _, _, state in tasks(definition):
        for grant in _target_grants(state):
            if "function" in grant:
                grant["qualified"] = True   # FunctionName may name a version or an alias (NAME:*)
            if grant not in grants:
                grants.append(grant)
    return grants


def _transitions(state: dict):
    """(path relative to the state, name of the state it goes to)."""
    for key in ("Next", "Default"):
        if key in state:
            yield (key,), state[key]
    for key in ("Catch", "Choices"):
        for index, item in enumerate(state.get(key) or []):
            if isinstance(item, dict) and "Next" in item:
                yield (key, index, "Next"), item["Next"]


def _label(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else ("." if i else "") + p for i, p in enumerate(path))


def _is_lambda_arn(resource) -> bool:
    if isinstance(resource, str):
        return bool(RAW_LAMBDA_ARN.fullmatch(resource))
    return any(ref.kind == "lambda_functions" for _, ref in find_refs(resource))


class StateMachines(Reconciler):
    kind = "state_machines"
    service = "stepfunctions"
    attributes = frozenset({"arn", "name"})
    name_rule = NameRule(r"[A-Za-z0-9_.-]+", 1, 80, "a state machine name", "letters, digits, '.', '_' and '-'")
    immutable = frozenset({"type"})
    derived_fields = frozenset({"role"})
    tagging_type = "states:stateMachine"
    rank = 35
    delete_tier = 2
    opt_outs = ((("logging", "level"), "OFF", "no execution logs (FSBP StepFunctions.1)"),
                (("logging", "level"), False, "no execution logs (FSBP StepFunctions.1)"))

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
        for path, machine in machines(node.props["definition"]):
            states = _states_of(machine)
            known = f" (states here: {', '.join(map(str, states))})" if states else ""
            start = machine.get("StartAt")
            if start is None:
                out.append((path, "needs StartAt, the name of the first state", "error"))
            elif not isinstance(start, str) or start not in states:
                out.append((path + ("StartAt",), f"StartAt '{start}' is not a state{known}", "error"))
            for name, state in states.items():
                state_path = path + ("States", name)
                if not isinstance(state, dict) or "Type" not in state:
                    out.append((state_path, f"state '{name}' must be a mapping with a Type", "error"))
                    continue
                for rel_path, target in _transitions(state):
                    if not isinstance(target, str) or target not in states:
                        out.append((state_path + rel_path,
                                    f"state '{name}': {_label(rel_path)} '{target}' is not a state{known}", "error"))
                if state["Type"] not in TERMINAL_TYPES and "Next" not in state and state.get("End") is not True:
                    out.append((state_path, f"state '{name}' needs Next or End: true", "error"))
        for state_path, name, state in tasks(node.props["definition"]):
            out.extend(self._check_task(node, state_path, name, state))
        return out

    @staticmethod
    def _own_role(node) -> bool:
        role = node.props.get("role")
        return not (isinstance(role, Ref) and role.address == f"iam_roles.{role_name(node.name)}")

    def _check_task(self, node, path, name, state):
        resource = state.get("Resource")
        if _is_lambda_arn(resource):
            yield path + ("Resource",), (
                f"state '{name}' invokes a Lambda function by its ARN: use Resource arn:aws:states:::lambda:invoke "
                "with Parameters FunctionName (the function) and \"Payload.$\": \"$\""), "error"
            return
        found = integration(resource)
        parameters = _parameters(state)
        parameters_path = path + ((_parameters_key(state),) if _parameters_key(state) else ("Resource",))
        if found and found[1] and node.props["type"] == "EXPRESS":
            yield path + ("Resource",), (f"state '{name}': EXPRESS state machines do not support the {found[1]} "
                                         "integration pattern (use STANDARD)"), "error"
        if found and found[0] == LAMBDA_INVOKE:
            if not {"FunctionName", "FunctionName.$"} & set(parameters):
                yield parameters_path, f"state '{name}': lambda:invoke needs Parameters FunctionName", "error"
            if not {"Payload", "Payload.$"} & set(parameters):
                yield parameters_path, (f"state '{name}': lambda:invoke needs Parameters \"Payload.$\" "
                                        "(e.g. \"$\", the state's input) or Payload"), "error"
        if found and found[0] in INTEGRATIONS:
            parameter, field, _ = INTEGRATIONS[found[0]]
            if (parameter in parameters or f"{parameter}.$" in parameters) and not _target_grants(state):
                yield parameters_path, (
                    f"state '{name}': {parameter} is not a ${{{TARGETS[field]}.NAME...}} reference, so the generated "
                    "role grants nothing on it and the call is denied"), "warning"
        elif found and not (node.props["grants"] or node.props["policies"] or self._own_role(node)):
            yield path + ("Resource",), (
                f"state '{name}': the generated role has no permission for {found[0]} (it covers "
                f"{', '.join(INTEGRATIONS)}); add what the call needs to grants"), "warning"
        if not state.get("Retry"):
            yield path, f"state '{name}' has no Retry: a transient error fails it at once", "warning"
        if not state.get("Catch"):
            yield path, f"state '{name}' has no Catch: an error it does not retry fails the whole execution", \
                "warning"

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
            "tags": ctx.tags_for(node),
        }

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("stepfunctions")
        arn = self.arn(node.physical_name, ctx)
        found = unless_missing(client.describe_state_machine, *NOT_FOUND, stateMachineArn=arn)
        if found is None or found.get("status") == "DELETING":
            return None
        tags = ctx.tags_of(arn, lambda: tags_from_list(
            client.list_tags_for_resource(resourceArn=arn).get("tags"), "key", "value"))
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

    def _when_role_ready(self, call, node, ctx):
        for message in ROLE_NOT_READY_MESSAGES:
            call = eventually(ROLE_NOT_READY, timeout=120, message_contains=message,
                              on_wait=lambda m: ctx.progress(node.address, "waiting for the new role"))(call)
        return call

    def create(self, node, desired, ctx):
        client = ctx.client("stepfunctions")
        create = eventually(DELETING, timeout=120, on_wait=lambda m: ctx.progress(node.address, m))(
            self._when_role_ready(client.create_state_machine, node, ctx))
        created = create(name=node.physical_name, type=desired["type"],
                         tags=tags_to_list(desired["tags"], "key", "value"), **self._configuration(desired))
        return {"arn": created.get("stateMachineArn") or self.arn(node.physical_name, ctx)}

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("stepfunctions")
        arn = actual.outputs["arn"]
        fields = changed_fields(diffs)
        if fields & {"definition", "role", "logging", "tracing"}:
            self._when_role_ready(client.update_state_machine, node, ctx)(
                stateMachineArn=arn, **self._configuration(desired))
        if "tags" in fields:
            retag(desired["tags"], actual.props["tags"],
                  lambda keys: client.untag_resource(resourceArn=arn, tagKeys=keys),
                  lambda tags: client.tag_resource(resourceArn=arn, tags=tags_to_list(tags, "key", "value")))
        return {}

    # --- delete ---
    def delete(self, resource, ctx):
        arn = resource.arn or self.arn(resource.physical_id, ctx)
        with missing_is_done(*NOT_FOUND):
            ctx.client("stepfunctions").delete_state_machine(stateMachineArn=arn)
