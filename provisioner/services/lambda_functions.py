"""Lambda functions: configuration and concurrency here; what a function implies (lambda_implied), its code
(lambda_code), its invoke permissions and asynchronous invocation (lambda_invocation), its alias and
versions (lambda_versions) and its event source mappings (lambda_triggers) in their own modules.
"""
from __future__ import annotations

import json

from provisioner.aws.errors import unless_missing
from provisioner.engine.operations import Call, Together, Wait
from provisioner.services.base import NameRule, Observed, Reconciler, dropped_by_emulator
from provisioner.services.delivery import Delivery, predictable, senders_known_after_creation
from provisioner.services.lambda_code import (
    artifact,
    code_folder,
    code_request,
    function_package,
    read_code_location,
    shared_package,
)
from provisioner.services.lambda_implied import destination, implied_resources, send_targets
from provisioner.services.lambda_invocation import (
    add_permissions,
    desired_permissions,
    permissions_by_sid,
    put_async,
    read_async,
    read_permissions,
    update_permissions,
)
from provisioner.services.lambda_packaging import Package, check_handler
from provisioner.services.lambda_triggers import (
    check_trigger,
    create_trigger,
    desired_trigger,
    mappings_of,
    read_triggers,
    triggers_by_source,
    update_triggers,
)
from provisioner.services.lambda_versions import (
    NO_PROVISIONED_CONCURRENCY,
    configuration,
    desired_alias,
    publish,
    read_alias,
)
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref, Template, find_refs
from provisioner.spec.runtimes import check_node_handler, deprecation_warning, is_python

CONFIG_FIELDS = frozenset({"runtime", "handler", "memory", "timeout", "ephemeral_storage", "description", "role",
                           "environment", "tracing", "dead_letter_queue", "layers"})
CODE_FIELDS = frozenset({"code_sha256", "code_location", "architecture"})


class LambdaFunctions(Reconciler):
    kind = "lambda_functions"
    service = "lambda"
    attributes = frozenset({"arn", "name", "alias_arn", "version", "invoke_arn"})
    name_rule = NameRule(r"[A-Za-z0-9_-]+", 1, 64, "a Lambda function name", "letters, digits, '_' and '-'")
    derived_fields = frozenset({"code_sha256", "code_location", "permissions"})
    tagging_type = "lambda:function"
    rank = 22
    delete_tier = 2
    opt_outs = ((("tracing",), "PassThrough", "no X-Ray traces of this function (Checkov CKV_AWS_50)"),)
    missing = ("ResourceNotFoundException", NO_PROVISIONED_CONCURRENCY)
    tag_api = TagApi("lambda", "Resource", "arn", list="list_tags", as_map=True)
    updates = ((CONFIG_FIELDS, "_update_configuration"),
               (CODE_FIELDS, "_update_code"),
               (frozenset({"reserved_concurrency"}), "_set_reserved_concurrency"),
               (frozenset({"async"}), "_set_async"),
               (frozenset({"permissions"}), "_update_permissions"),
               (frozenset({"triggers"}), "_update_triggers"),
               # a changed function is published again and its alias moved to the new version
               (CONFIG_FIELDS | CODE_FIELDS | {"alias"}, "_publish"))

    # --- spec time ---
    def companions(self, node, spec):
        return implied_resources(node, spec)

    def deliveries(self, node, spec):
        """Lambda sends failed (and finished) asynchronous events to the queues named for them: their queue
        policy allows this function only."""
        queues = {target["sqs_queue"].address for target in send_targets(node.props)
                  if isinstance(target.get("sqs_queue"), Ref)}
        return [Delivery(queue, "lambda.amazonaws.com", node.address, Ref(node.address, "arn"))
                for queue in sorted(queues)]

    def dependencies(self, node, spec, referenced):
        """Grants go into the role, which orders itself; the function waits for the role only. Environment
        values are plain strings to Lambda: one known in advance (a bucket's name) need not exist yet. A
        sender whose ARN is only known once it exists (an API's execution ARN) must exist before the
        permission that names it."""
        props = {k: v for k, v in node.props.items() if k not in ("grants", "environment")}
        environment = [value for value in (node.props.get("environment") or {}).values() if not predictable(value, spec)]
        elsewhere = {ref.address for _, ref in find_refs([props, environment])}
        return {address for address in referenced if address in elsewhere} | senders_known_after_creation(node, spec)

    def validate(self, node, spec):
        props, out = node.props, []
        path = props["code"]["path"]
        folder = code_folder(spec, path) if path else None
        if path is None:
            out.append((("code",), "code needs path: the folder with the function's source", "error"))
        elif folder is None:
            out.append((("code",), f"code folder '{path}' not found next to the spec or above it", "error"))
        else:
            problem = self._handler_problem(folder, props["runtime"], props["handler"])
            if problem:
                out.append((("handler",), problem, "error"))
        deprecated = deprecation_warning(props["runtime"])
        if deprecated:
            out.append((("runtime",), deprecated, "warning"))
        if props["grants"] and node.props.get("role") is not None and not self._generated_role(node, spec):
            out.append((("grants",), "grants compile into the generated role; with role: give them to that role",
                        "error"))
        reserved, alias = props.get("reserved_concurrency"), props.get("alias") or {}
        if reserved == 0:
            out.append((("reserved_concurrency",), "reserved_concurrency 0 throttles every invocation", "warning"))
        provisioned = alias.get("provisioned_concurrency")
        if provisioned and reserved is not None and provisioned > reserved:
            out.append((("alias", "provisioned_concurrency"),
                        f"provisioned concurrency {provisioned} exceeds reserved_concurrency {reserved}", "error"))
        for index, layer in enumerate(props["layers"]):
            if not isinstance(layer, Ref):   # a layer version ARN from outside the spec
                if layer.split(":")[3] != spec.region:
                    out.append((("layers", index), f"layer {layer} is in {layer.split(':')[3]}; a function can only "
                                                   f"use layers of its own region ({spec.region})", "error"))
                continue
            found = spec.nodes.get(layer.address)
            if found is not None and props["runtime"] not in found.props["runtimes"]:
                out.append((("layers", index), f"layer {found.name} supports {', '.join(found.props['runtimes'])}, "
                                               f"not {props['runtime']}", "error"))
            if found is not None and props["architecture"] not in found.props["architectures"]:
                out.append((("layers", index), f"layer {found.name} is built for "
                                               f"{', '.join(found.props['architectures'])}, not "
                                               f"{props['architecture']}", "error"))
        for index, trigger in enumerate(props["triggers"]):
            out.extend(((("triggers", index) + path, message, severity)
                        for path, message, severity in check_trigger(node, trigger, spec)))
        return out

    @staticmethod
    def _handler_problem(folder, runtime, handler) -> str | None:
        """Python and Node.js handlers name a file of the folder; other runtimes' handlers are not checked."""
        if is_python(runtime):
            return check_handler(folder, handler)
        if runtime.startswith("nodejs"):
            return check_node_handler(folder, handler)
        return None

    def _generated_role(self, node, spec) -> bool:
        role = node.props.get("role")
        return isinstance(role, Ref) and spec.nodes.get(role.address) is not None \
            and spec.nodes[role.address].owner == node.address

    def predicted_outputs(self, node, ctx):
        arn = ctx.aws.arn("lambda", f"function:{node.physical_name}")
        outputs = {"name": node.physical_name, "arn": arn, "invoke_arn": self._invoke_arn(arn, ctx)}
        if node.props.get("alias"):
            outputs["alias_arn"] = f"{arn}:{node.props['alias']['name']}"
        return outputs

    def _invoke_arn(self, arn, ctx):
        return f"arn:{ctx.aws.partition}:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations"

    def matches_arn(self, arn):
        parts = arn.split(":")
        return len(parts) == 7 and parts[2] == "lambda" and parts[5] == "function"

    # --- desired ---
    def package(self, node, spec) -> Package:
        return function_package(node, spec)

    def desired(self, node, ctx):
        props = node.props
        package = shared_package(node, ctx)
        where = artifact(node, package)
        async_config = props.get("async")
        return {
            "runtime": props["runtime"],
            "handler": props["handler"],
            "architecture": props["architecture"],
            "memory": props["memory"],
            "timeout": props["timeout"],
            "ephemeral_storage": props["ephemeral_storage"],
            "description": props["description"],
            "role": props["role"],
            "environment": {k: v if not isinstance(v, (bool, int)) else json.dumps(v)
                            for k, v in props["environment"].items()},
            "tracing": props["tracing"],
            "layers": list(props["layers"]),
            "dead_letter_queue": destination(props.get("dead_letter_queue")),
            "code_sha256": package.sha256,
            # where Lambda took the code from: s3://BUCKET/lambda/FUNCTION/SHA256.zip, or None when sent inline
            "code_location": Template(("s3://", where["bucket"], f"/{where['key']}")) if where else None,
            "reserved_concurrency": props.get("reserved_concurrency"),
            "async": {"max_retries": async_config["max_retries"],
                      "max_event_age_seconds": async_config["max_event_age_seconds"],
                      "on_failure": destination(async_config.get("on_failure")),
                      "on_success": destination(async_config.get("on_success"))} if async_config else None,
            "alias": desired_alias(props.get("alias")),
            "triggers": {},
            "permissions": {},
            "_triggers": [desired_trigger(t) for t in props["triggers"]],
            "_permissions": desired_permissions(node, ctx),
            "_package": package,
            "_artifact": where,
        }

    def normalize(self, desired):
        return {**desired, "triggers": triggers_by_source(desired["_triggers"]),
                "permissions": permissions_by_sid(desired["_permissions"])}

    # --- read ---
    def read(self, node, ctx):
        name = node.physical_name
        found = self.get(ctx, "get_function", FunctionName=name)
        if found is None:
            return None
        config = found["Configuration"]
        facets = ctx.concurrently({
            "triggers": lambda: read_triggers(ctx, config["FunctionArn"]),
            "async": lambda: read_async(self.get, ctx, name),
            "permissions": lambda: read_permissions(self.get, ctx, name),
        })
        tags = found.get("Tags", {})
        warnings = []
        props = configuration(config)
        dead_letter = dropped_by_emulator(config.get("DeadLetterConfig", {}).get("TargetArn"),
                                          node.props.get("dead_letter_queue"), ctx, warnings, "dead_letter_queue",
                                          "GetFunction has no DeadLetterConfig")
        triggers, mapping_ids = facets["triggers"]
        props.update({
            "code_location": read_code_location(node, config, ctx),
            "dead_letter_queue": dead_letter,
            "reserved_concurrency": found.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
            "async": facets["async"],
            "triggers": triggers,
            "_mapping_ids": mapping_ids,
            "permissions": facets["permissions"],
            "tags": tags})
        outputs = {"arn": config["FunctionArn"], "name": name, "version": config.get("Version", "$LATEST"),
                   "invoke_arn": self._invoke_arn(config["FunctionArn"], ctx)}
        alias = node.props.get("alias")
        props["alias"] = read_alias(self.get, ctx, node, config, warnings) if alias else None
        if alias:
            outputs["alias_arn"] = f"{config['FunctionArn']}:{alias['name']}"
        return Observed(props, outputs, tags, warnings)

    # --- write ---
    def create(self, node, desired, ctx):
        name = node.physical_name
        request = {"FunctionName": name, "Code": (yield from code_request(desired, node, ctx)), "Publish": False,
                   "Architectures": [desired["architecture"]], "Tags": self.tag_api.format(desired["tags"]),
                   **self._configuration_request(desired)}
        if not desired["dead_letter_queue"]:
            del request["DeadLetterConfig"]
        created = yield Call("lambda", "create_function", request, "create the function")
        yield Wait("lambda", "function_active_v2", {"FunctionName": name}, "the function to be active")
        # what CreateFunction does not take: independent settings of the new function
        yield Together((
            add_permissions(name, desired["permissions"]),
            *([self._put_reserved_concurrency(name, desired)] if desired["reserved_concurrency"] is not None else []),
            *([put_async(name, desired["async"])] if desired["async"] else []),
            *(create_trigger(name, source, trigger, desired) for source, trigger in desired["triggers"].items()),
        ))
        outputs = {"arn": created["FunctionArn"], "version": "$LATEST"}
        if desired["alias"]:
            outputs.update((yield from publish(node, desired, None, ctx)))
        return outputs

    def _configuration_request(self, desired) -> dict:
        return {"Runtime": desired["runtime"], "Handler": desired["handler"], "Role": desired["role"],
                "MemorySize": desired["memory"], "Timeout": desired["timeout"],
                "EphemeralStorage": {"Size": desired["ephemeral_storage"]},
                "Description": desired["description"], "TracingConfig": {"Mode": desired["tracing"]},
                "Environment": {"Variables": desired["environment"]}, "Layers": desired["layers"],
                # an empty target removes a dead-letter queue set before
                "DeadLetterConfig": {"TargetArn": desired["dead_letter_queue"] or ""}}

    def _update_configuration(self, node, desired, actual, fields, ctx):
        name = node.physical_name
        yield Call("lambda", "update_function_configuration",
                   {"FunctionName": name, **self._configuration_request(desired)}, "set " + ", ".join(sorted(fields)))
        yield Wait("lambda", "function_updated_v2", {"FunctionName": name}, "the configuration to apply")

    def _update_code(self, node, desired, actual, fields, ctx):
        name = node.physical_name
        code = yield from code_request(desired, node, ctx)
        yield Call("lambda", "update_function_code",
                   {"FunctionName": name, **code, "Architectures": [desired["architecture"]]}, "new code")
        yield Wait("lambda", "function_updated_v2", {"FunctionName": name}, "the code to apply")

    def _put_reserved_concurrency(self, name, desired) -> Call:
        return Call("lambda", "put_function_concurrency",
                    {"FunctionName": name, "ReservedConcurrentExecutions": desired["reserved_concurrency"]},
                    "reserved concurrency")

    def _set_reserved_concurrency(self, node, desired, actual, fields, ctx):
        if desired["reserved_concurrency"] is None:
            yield Call("lambda", "delete_function_concurrency", {"FunctionName": node.physical_name},
                       "remove reserved concurrency")
        else:
            yield self._put_reserved_concurrency(node.physical_name, desired)

    def _set_async(self, node, desired, actual, fields, ctx):
        if desired["async"]:
            yield put_async(node.physical_name, desired["async"])
        else:
            yield Call("lambda", "delete_function_event_invoke_config", {"FunctionName": node.physical_name},
                       "remove asynchronous invocation settings")

    def _update_permissions(self, node, desired, actual, fields, ctx):
        yield from update_permissions(node.physical_name, desired["permissions"], actual.props["permissions"])

    def _update_triggers(self, node, desired, actual, fields, ctx):
        yield from update_triggers(node.physical_name, desired, actual.props)

    def _publish(self, node, desired, actual, fields, ctx):
        if not desired["alias"]:
            return {}
        return (yield from publish(node, desired, actual.props.get("alias"), ctx))

    # --- delete ---
    def delete(self, resource, ctx):
        name = resource.physical_id
        mappings = unless_missing(mappings_of, *self.missing, ctx=ctx, name=name)
        if mappings is None:   # the function is gone
            return
        for mapping in mappings:
            yield Call("lambda", "delete_event_source_mapping", {"UUID": mapping["UUID"]},
                       f"remove the trigger from {mapping['EventSourceArn']}", missing_ok=True)
        yield Call("lambda", "delete_function", {"FunctionName": name}, "delete the function", missing_ok=True)
