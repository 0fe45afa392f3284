"""Amazon States Language definitions: read from definition_file with its placeholders filled, walked
(nested Parallel branches and Map processors included) for the grants its integrations need, and checked
for what AWS would refuse or what would fail at run time."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from provisioner.policy.grants import TARGETS
from provisioner.spec.refs import Ref, RefSyntaxError, find_refs, parse_string

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
TERMINAL_TYPES = ("Choice", "Succeed", "Fail")   # states that take neither Next nor End


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


def structure_problems(definition: dict) -> list:
    """StartAt, transitions and terminal states of the definition and of every machine nested in it."""
    out = []
    for path, machine in machines(definition):
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
    return out


def task_problems(path: tuple, name: str, state: dict, express: bool, role_has_more: bool):
    """What is wrong with one Task state; role_has_more: its role may allow more than the generated grants."""
    resource = state.get("Resource")
    if _is_lambda_arn(resource):
        yield path + ("Resource",), (
            f"state '{name}' invokes a Lambda function by its ARN: use Resource arn:aws:states:::lambda:invoke "
            "with Parameters FunctionName (the function) and \"Payload.$\": \"$\""), "error"
        return
    found = integration(resource)
    parameters = _parameters(state)
    parameters_path = path + ((_parameters_key(state),) if _parameters_key(state) else ("Resource",))
    if found and found[1] and express:
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
    elif found and not role_has_more:
        yield path + ("Resource",), (
            f"state '{name}': the generated role has no permission for {found[0]} (it covers "
            f"{', '.join(INTEGRATIONS)}); add what the call needs to grants"), "warning"
    if not state.get("Retry"):
        yield path, f"state '{name}' has no Retry: a transient error fails it at once", "warning"
    if not state.get("Catch"):
        yield path, f"state '{name}' has no Catch: an error it does not retry fails the whole execution", "warning"
