"""Lambda functions: deterministic code packages, configuration, concurrency, asynchronous invocation,
versions and an alias with provisioned concurrency, event source mappings and invoke permissions.

A function implies two more resources, built as ordinary nodes: its log group /aws/lambda/NAME
(created first, so retention and encryption hold from the first log line) and, unless `role:` names
one, a role compiled from its grants plus exactly what its own settings need (its log group, its
dead-letter target, its asynchronous destinations, the queues and streams it polls, X-Ray).

A package goes inline (ZipFile) unless the function's code names an artifacts bucket, asks for
`upload: s3`, or is over the 50 MB direct-upload limit: then it is put once per content at
lambda/FUNCTION/SHA256.zip (HeadObject first: an object already there is not sent again) and the
function is created or updated from S3Bucket/S3Key. With no bucket named, the package goes to the
environment's own bucket s3_buckets.artifacts, a third implied node (one per spec, however many
functions use it): an ordinary bucket with the secure defaults, tagged, removed by destroy.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from provisioner.aws.errors import CALL_ERRORS, is_not_emulated, missing_is_done, unless_missing
from provisioner.aws.retries import eventually
from provisioner.services.base import (
    NOT_RETURNED,
    Delivery,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    dropped_by_emulator,
    predictable,
    retag,
    senders_known_after_creation,
)
from provisioner.services.lambda_packaging import (
    Package,
    PackagingError,
    artifact_key,
    build_package,
    check_handler,
    exceeds_direct_upload,
    may_exceed_direct_upload,
)
from provisioner.spec.refs import Ref, Template, find_refs
from provisioner.spec.runtimes import check_node_handler, deprecation_warning, handler_source, is_python

NOT_FOUND = ("ResourceNotFoundException",)
NO_OBJECT = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")
ARTIFACTS_BUCKET = "artifacts"   # logical name of the environment's own bucket for packages (s3_buckets.artifacts)
# Packages are kept by content: a delete leaves a noncurrent version, expired after a month.
ARTIFACTS_LIFECYCLE = [{"id": "expire-deleted-packages", "noncurrent_expire_days": 30, "abort_multipart_days": 1}]
# A role created seconds ago is not yet assumable by Lambda; AWS says so in this error.
ROLE_NOT_READY = ("InvalidParameterValueException",)
WAIT = {"Delay": 1, "MaxAttempts": 300}
CONFIG_FIELDS = ("runtime", "handler", "memory", "timeout", "ephemeral_storage", "description", "role",
                 "environment", "tracing", "dead_letter_queue", "layers")
DESTINATION_FIELDS = ("sqs_queue", "sns_topic", "function")
XRAY_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
PUBLISHED = "$LATEST published"


def unqualified(function_arn: str) -> str:
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME[:VERSION or ALIAS] -> the ARN without the qualifier."""
    return ":".join(function_arn.split(":")[:7])


def role_name(function: str) -> str:
    return f"{function}-role"


def log_group_name(function: str) -> str:
    return f"{function}-logs"


def code_folder(spec, code: str) -> Path | None:
    """`code` relative to the spec file's folder or the nearest folder above it that has it."""
    for folder in [Path(spec.file).resolve().parent, *Path(spec.file).resolve().parent.parents]:
        candidate = folder / code
        if candidate.is_dir():
            return candidate
    return None


def code_settings(code) -> dict:
    """`code: FOLDER` or `code: {path, upload, artifacts_bucket}` -> the mapping, with every field."""
    settings = {"path": code} if isinstance(code, str) else dict(code)
    return {"path": settings.get("path"), "upload": settings.get("upload", "auto"),
            "artifacts_bucket": settings.get("artifacts_bucket")}


def uses_s3(code: dict, package_size: int | None = None) -> bool:
    """Whether a package goes through S3: a bucket is named, upload is s3, or it is over the direct-upload
    limit (package_size None: not known, not counted)."""
    return (code["artifacts_bucket"] is not None or code["upload"] == "s3"
            or (package_size is not None and exceeds_direct_upload(package_size)))


def _destination(target: dict | None):
    """{sqs_queue: x} / {sns_topic: x} / {function: x} -> the target's Ref (or None)."""
    if not target:
        return None
    return next(target[f] for f in DESTINATION_FIELDS if f in target)


def _send_targets(props) -> list[dict]:
    """The dead-letter target and the asynchronous destinations the function sends to."""
    return [target for target in (props.get("dead_letter_queue"), props.get("async", {}).get("on_failure"),
                                  props.get("async", {}).get("on_success")) if target]


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

    # --- spec time ---
    def companions(self, node, spec):
        props = node.props
        out = self._artifacts_bucket(node, spec) + [("log_groups", log_group_name(node.name), {
            "name": f"/aws/lambda/{node.physical_name}",
            **({"retention_days": props["logs"]["retention_days"]} if "retention_days" in props["logs"] else {}),
            **({"kms_key": props["logs"]["kms_key"]} if "kms_key" in props["logs"] else {})})]
        props["log_group"] = Ref(f"log_groups.{log_group_name(node.name)}", "name")
        if "role" not in props:
            out.append(("iam_roles", role_name(node.name), {
                "name": node.physical_name,
                "description": f"Execution role of {node.physical_name}",
                "services": ["lambda.amazonaws.com"],
                "grants": self._role_grants(node),
                "policies": {"xray": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "Tracing", "Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"}]}}
                if props["tracing"] == "Active" else {}}))
            props["role"] = Ref(f"iam_roles.{role_name(node.name)}", "arn")
        return out

    def _artifacts_bucket(self, node, spec) -> list:
        """The function's code settings completed; the environment's artifacts bucket as a companion when
        this function is the first that sends its package through S3 without naming a bucket."""
        props = node.props
        code = props["code"] = code_settings(props["code"])
        bucket = code["artifacts_bucket"]
        if isinstance(bucket, Ref):   # a typed reference names the bucket's ARN; S3Bucket takes its name
            code["artifacts_bucket"] = Ref(bucket.address, "name", written=bucket.written)
            return []
        folder = code_folder(spec, code["path"]) if code["path"] else None
        if not (code["upload"] == "s3"
                or folder is not None and may_exceed_direct_upload(folder, props["architecture"], props["runtime"])):
            return []
        address = f"s3_buckets.{ARTIFACTS_BUCKET}"
        code["artifacts_bucket"] = Ref(address, "name")
        found = spec.nodes.get(address)
        if found is not None and found.owner is not None:   # made for an earlier function already
            return []
        return [("s3_buckets", ARTIFACTS_BUCKET, {"lifecycle": copy.deepcopy(ARTIFACTS_LIFECYCLE)})]

    def _role_grants(self, node) -> list[dict]:
        """The user's grants plus what the function's own settings need, and nothing else."""
        props = node.props
        grants = list(props["grants"]) + [{"log_group": log_group_name(node.name), "access": "write"}]
        send = {"sqs_queue": "send", "sns_topic": "publish", "function": "invoke"}
        for target in _send_targets(props):
            field = next(f for f in DESTINATION_FIELDS if f in target)
            grants.append({field: target[field], "access": send[field]})
        for trigger in props["triggers"]:
            if "sqs_queue" in trigger:
                grants.append({"sqs_queue": trigger["sqs_queue"], "access": "consume"})
            else:
                grants.append({"dynamodb_table": trigger["dynamodb_table"], "access": "stream"})
        unique = []
        for grant in grants:
            if grant not in unique:
                unique.append(grant)
        return unique

    def deliveries(self, node, spec):
        """Lambda sends failed (and finished) asynchronous events to the queues named for them: their queue
        policy allows this function only."""
        queues = {target["sqs_queue"].address for target in _send_targets(node.props)
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
                        for path, message, severity in self._check_trigger(node, trigger, spec)))
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

    def _check_trigger(self, node, trigger, spec):
        path = node.props["code"]["path"]
        folder = code_folder(spec, path) if path else None
        source = handler_source(folder, node.props["runtime"], node.props["handler"]) if folder else None
        if trigger["report_batch_item_failures"] and source is not None and "batchItemFailures" not in source:
            yield ("report_batch_item_failures",), (
                f"is on, but {node.props['handler']} never mentions batchItemFailures: Lambda then reads "
                "the handler's return value as a partial batch response (none or an empty list: the whole batch "
                "succeeded, so a failure must raise); return {'batchItemFailures': [{'itemIdentifier': id}]} for "
                "failed records, or set report_batch_item_failures: false"), "warning"
        if "sqs_queue" in trigger:
            queue = spec.nodes.get(trigger["sqs_queue"].address)
            if trigger["batch_size"] > 10 and not trigger["batching_window_seconds"]:
                yield ("batch_size",), "an SQS batch_size above 10 needs batching_window_seconds of at least 1", \
                    "error"
            if queue is not None:
                visibility, timeout = queue.props["visibility_timeout"], node.props["timeout"]
                if visibility < timeout:
                    yield ("sqs_queue",), (f"queue {queue.name} has visibility_timeout {visibility}s, less than the "
                                           f"function's timeout {timeout}s: Lambda rejects the mapping"), "error"
                elif visibility < 6 * timeout:
                    yield ("sqs_queue",), (f"queue {queue.name} has visibility_timeout {visibility}s; AWS advises "
                                           f"at least 6 x the function timeout ({6 * timeout}s)"), "warning"
        else:
            table = spec.nodes.get(trigger["dynamodb_table"].address)
            if table is not None and table.props.get("stream") == "disabled":
                yield ("dynamodb_table",), f"table {table.name} has no stream (set stream:)", "error"
            if "maximum_concurrency" in trigger:
                yield ("maximum_concurrency",), "maximum_concurrency applies to SQS triggers only", "error"

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
        path = node.props["code"]["path"]
        folder = code_folder(spec, path) if path else None
        if folder is None:
            raise PackagingError(f"{node.address}: code folder '{path}' not found")
        return build_package(folder, node.props["architecture"], node.props["runtime"])

    def _package(self, node, ctx) -> Package:
        props = node.props
        # functions sharing a code folder share its package: the folder is read and hashed once per run
        return ctx.memo(f"package:{props['code']['path']}:{props['architecture']}:{props['runtime']}",
                        lambda: self.package(node, ctx.spec))

    def _artifact(self, node, package) -> dict | None:
        """{bucket: Ref to the bucket's name, key} when the package goes through S3, else None."""
        code = node.props["code"]
        if not uses_s3(code, package.size):
            return None
        if code["artifacts_bucket"] is None:   # cannot happen: companions() names a bucket for any such package
            raise PackagingError(f"{node.address}: the package is {package.size} bytes, over the direct-upload "
                                 "limit, and no artifacts bucket takes it")
        return {"bucket": code["artifacts_bucket"], "key": artifact_key(node.physical_name, package)}

    def desired(self, node, ctx):
        props = node.props
        package = self._package(node, ctx)
        artifact = self._artifact(node, package)
        alias = props.get("alias")
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
            "dead_letter_queue": _destination(props.get("dead_letter_queue")),
            "code_sha256": package.sha256,
            # where Lambda took the code from: s3://BUCKET/lambda/FUNCTION/SHA256.zip, or None when sent inline
            "code_location": Template(("s3://", artifact["bucket"], f"/{artifact['key']}")) if artifact else None,
            "reserved_concurrency": props.get("reserved_concurrency"),
            "async": {"max_retries": async_config["max_retries"],
                      "max_event_age_seconds": async_config["max_event_age_seconds"],
                      "on_failure": _destination(async_config.get("on_failure")),
                      "on_success": _destination(async_config.get("on_success"))} if async_config else None,
            "alias": {"name": alias["name"], "version": PUBLISHED,
                      "provisioned_concurrency": alias.get("provisioned_concurrency")} if alias else None,
            "triggers": {},
            "permissions": {},
            "tags": ctx.tags_for(node),
            "_triggers": [self._trigger(t) for t in props["triggers"]],
            "_permissions": [{"sid": self._sid(d), "principal": d.service, "source_arn": d.source_arn,
                              "source_account": ctx.account_id if d.service == "s3.amazonaws.com" else None}
                             for d in ctx.deliveries_to(node.address)],
            "_package": package,
            "_artifact": artifact,
        }

    def _trigger(self, trigger):
        source = trigger.get("sqs_queue") or Ref(trigger["dynamodb_table"].address, "stream_arn")
        settings = {"batch_size": trigger["batch_size"], "batching_window_seconds": trigger["batching_window_seconds"],
                    "report_batch_item_failures": trigger["report_batch_item_failures"],
                    "enabled": trigger["enabled"]}
        if "sqs_queue" in trigger:
            settings["maximum_concurrency"] = trigger.get("maximum_concurrency")
        else:
            settings.update(starting_position=trigger["starting_position"],
                            maximum_retry_attempts=trigger.get("maximum_retry_attempts", -1),
                            bisect_on_error=trigger["bisect_on_error"])
        return {"source": source, **settings}

    def _sid(self, delivery) -> str:
        """Statement ids allow letters, digits, '-' and '_' only."""
        text = "-".join(filter(None, ["provisioner", delivery.source, delivery.label]))
        return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:100]

    def normalize(self, desired):
        triggers = {t["source"]: {k: v for k, v in t.items() if k not in ("source", "starting_position")}
                    for t in desired["_triggers"]}
        permissions = {p["sid"]: {k: v for k, v in p.items() if k != "sid"} for p in desired["_permissions"]}
        return {**desired, "triggers": triggers, "permissions": permissions}

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("lambda")
        name = node.physical_name
        found = unless_missing(client.get_function, *NOT_FOUND, FunctionName=name)
        if found is None:
            return None
        config = found["Configuration"]
        facets = ctx.concurrently({
            "triggers": lambda: self._read_triggers(client, config["FunctionArn"], ctx),
            "async": lambda: self._read_async(client, name),
            "permissions": lambda: self._read_permissions(client, name),
        })
        tags = found.get("Tags", {})
        warnings = []
        props = self._configuration(config)
        dead_letter = dropped_by_emulator(config.get("DeadLetterConfig", {}).get("TargetArn"),
                                          node.props.get("dead_letter_queue"), ctx, warnings, "dead_letter_queue",
                                          "GetFunction has no DeadLetterConfig")
        triggers, mapping_ids = facets["triggers"]
        props.update({
            "code_location": self._read_code_location(node, config, ctx),
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
        props["alias"] = self._read_alias(client, node, config, warnings) if alias else None
        if alias:
            outputs["alias_arn"] = f"{config['FunctionArn']}:{alias['name']}"
        return Observed(props, outputs, tags, warnings)

    def _read_code_location(self, node, config, ctx) -> str | None:
        """s3://BUCKET/KEY of the deployed code when the spec sends the package through S3 and the object of
        the deployed CodeSha256 is there with that content; None otherwise (GetFunction never tells where code
        came from, so the package in the bucket is what can be checked)."""
        artifact = self._artifact(node, self._package(node, ctx))
        if artifact is None or not config.get("CodeSha256"):
            return None
        bucket = ctx.resolve(artifact["bucket"])
        deployed = Package(zip_bytes=b"", sha256=config["CodeSha256"], size=config.get("CodeSize", 0), files=())
        key = artifact_key(node.physical_name, deployed)
        if not self._holds(self._head_artifact(ctx.client("s3"), bucket, key), deployed):
            return None
        return f"s3://{bucket}/{key}"

    @staticmethod
    def _head_artifact(s3, bucket, key) -> dict | None:
        return unless_missing(s3.head_object, *NO_OBJECT, Bucket=bucket, Key=key, ChecksumMode="ENABLED")

    @staticmethod
    def _holds(found: dict | None, package: Package) -> bool:
        """Whether a HeadObject answer is the package: its size, and its SHA-256 when S3 keeps one (an object
        the tool put always has it)."""
        return (found is not None and found.get("ContentLength", package.size) == package.size
                and found.get("ChecksumSHA256", package.sha256) == package.sha256)

    def _code(self, desired, node, ctx) -> dict:
        """The Code of CreateFunction (and UpdateFunctionCode's arguments): S3Bucket/S3Key once the package is
        in the artifacts bucket (put only when that key is not there yet), else the zip itself."""
        package, artifact = desired["_package"], desired["_artifact"]
        if artifact is None:
            return {"ZipFile": package.zip_bytes}
        s3, bucket, key = ctx.client("s3"), artifact["bucket"], artifact["key"]
        if not self._holds(self._head_artifact(s3, bucket, key), package):
            ctx.progress(node.address, f"uploading the package to s3://{bucket}/{key}")
            # S3 checks the content against ChecksumSHA256 and keeps it, for read() to compare with CodeSha256;
            # NoSuchBucket is retried: a bucket created a moment ago may not be visible everywhere yet
            eventually(("NoSuchBucket",), timeout=60)(s3.put_object)(
                Bucket=bucket, Key=key, Body=package.zip_bytes, ContentType="application/zip",
                ChecksumSHA256=package.sha256)
        return {"S3Bucket": bucket, "S3Key": key}

    def _configuration(self, config) -> dict:
        return {
            "runtime": config.get("Runtime"),
            "handler": config.get("Handler"),
            "architecture": (config.get("Architectures") or ["x86_64"])[0],
            "memory": config.get("MemorySize"),
            "timeout": config.get("Timeout"),
            "ephemeral_storage": config.get("EphemeralStorage", {}).get("Size", 512),
            "description": config.get("Description", ""),
            "role": config.get("Role"),
            "environment": config.get("Environment", {}).get("Variables", {}),
            "tracing": config.get("TracingConfig", {}).get("Mode", "PassThrough"),
            "layers": [layer["Arn"] for layer in config.get("Layers", [])],
            "code_sha256": config.get("CodeSha256"),
        }

    def _read_async(self, client, name):
        found = unless_missing(client.get_function_event_invoke_config, *NOT_FOUND, FunctionName=name)
        if found is None:
            return None
        destinations = found.get("DestinationConfig", {})
        return {"max_retries": found.get("MaximumRetryAttempts", 2),
                "max_event_age_seconds": found.get("MaximumEventAgeInSeconds", 21600),
                "on_failure": destinations.get("OnFailure", {}).get("Destination"),
                "on_success": destinations.get("OnSuccess", {}).get("Destination")}

    def _read_triggers(self, client, function_arn, ctx) -> tuple[dict, dict]:
        """Event source mappings by source ARN, and their UUIDs (what updates and deletes need).

        Only the mappings of the function itself (its unqualified ARN), the ones this tool creates: a
        mapping of one of its versions or of its alias is left out."""
        out, ids = {}, {}
        for mapping in self._mappings_by_function(client, ctx).get(unqualified(function_arn), []):
            settings = {
                "batch_size": mapping.get("BatchSize"),
                "batching_window_seconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
                "report_batch_item_failures": "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
                "enabled": mapping.get("State") in ("Enabled", "Enabling", "Creating", "Updating"),
            }
            ids[mapping["EventSourceArn"]] = mapping["UUID"]
            if ":sqs:" in mapping["EventSourceArn"]:
                settings["maximum_concurrency"] = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
            else:
                settings.update(maximum_retry_attempts=mapping.get("MaximumRetryAttempts", -1),
                                bisect_on_error=mapping.get("BisectBatchOnFunctionError", False))
            out[mapping["EventSourceArn"]] = settings
        return out, ids

    @staticmethod
    def _mappings_by_function(client, ctx) -> dict:
        """{FunctionArn: [mapping]} of every event source mapping of the region, listed once per run: one
        paginated listing instead of one ListEventSourceMappings per function."""
        def list_all():
            by_function: dict = {}
            # AWS answers at most 100 mappings a page, whatever MaxItems asks
            pages = client.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": 100})
            for page in pages:
                for mapping in page["EventSourceMappings"]:
                    by_function.setdefault(mapping["FunctionArn"], []).append(mapping)
            return by_function
        return ctx.memo("event_source_mappings", list_all)

    def _read_permissions(self, client, name) -> dict:
        found = unless_missing(client.get_policy, *NOT_FOUND, FunctionName=name)
        if found is None:
            return {}
        out = {}
        for statement in json.loads(found["Policy"]).get("Statement", []):
            principal = statement.get("Principal", {})
            condition = statement.get("Condition", {})
            out[statement.get("Sid", "")] = {
                "principal": principal.get("Service") if isinstance(principal, dict) else principal,
                "source_arn": condition.get("ArnLike", {}).get("AWS:SourceArn"),
                "source_account": condition.get("StringEquals", {}).get("AWS:SourceAccount"),
            }
        return out

    def _read_alias(self, client, node, config, warnings) -> dict | None:
        name, alias_name = node.physical_name, node.props["alias"]["name"]
        alias = unless_missing(client.get_alias, *NOT_FOUND, FunctionName=name, Name=alias_name)
        if alias is None:
            return None
        versions = []
        for page in client.get_paginator("list_versions_by_function").paginate(FunctionName=name):
            versions.extend(v for v in page["Versions"] if v["Version"] != "$LATEST")
        newest = max(versions, key=lambda v: int(v["Version"]), default=None)
        current = (newest is not None and alias["FunctionVersion"] == newest["Version"]
                   and self._configuration(newest) == self._configuration(config))
        version = PUBLISHED if current else f"version {alias['FunctionVersion']} (behind $LATEST)"
        try:
            provisioned = unless_missing(client.get_provisioned_concurrency_config,
                                         "ProvisionedConcurrencyConfigNotFoundException", *NOT_FOUND,
                                         FunctionName=name, Qualifier=alias_name)
            provisioned = provisioned.get("RequestedProvisionedConcurrentExecutions") if provisioned else None
        except CALL_ERRORS as exc:
            if not is_not_emulated(exc):
                raise
            provisioned = NOT_RETURNED
            if node.props["alias"].get("provisioned_concurrency"):
                warnings.append("alias.provisioned_concurrency: not emulated by this endpoint "
                                "(GetProvisionedConcurrencyConfig); not applied and not compared")
        return {"name": alias_name, "version": version, "provisioned_concurrency": provisioned}

    # --- write ---
    def create(self, node, desired, ctx):
        client = ctx.client("lambda")
        name = node.physical_name
        request = {"FunctionName": name, "Code": self._code(desired, node, ctx), "Publish": False,
                   "Architectures": [desired["architecture"]], "Tags": desired["tags"],
                   **self._configuration_request(desired)}
        if not desired["dead_letter_queue"]:
            del request["DeadLetterConfig"]
        created = eventually(ROLE_NOT_READY, timeout=120, message_contains="cannot be assumed",
                             on_wait=lambda m: ctx.progress(node.address, "waiting for the new role"))(
            client.create_function)(**request)
        self._wait(client, "function_active_v2", name, node, ctx)

        def permissions():   # one after the other: each rewrites the function's one resource policy
            for sid, permission in desired["permissions"].items():
                self._add_permission(client, name, sid, permission)
        ctx.concurrently({   # what CreateFunction does not take: independent settings of the new function
            "permissions": permissions,
            **({"concurrency": lambda: client.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=desired["reserved_concurrency"])}
               if desired["reserved_concurrency"] is not None else {}),
            **({"async": lambda: self._put_async(client, name, desired["async"])} if desired["async"] else {}),
            **{("trigger", source): lambda source=source, trigger=trigger: self._create_trigger(
                client, name, source, trigger, desired, node, ctx)
               for source, trigger in desired["triggers"].items()},
        })
        outputs = {"arn": created["FunctionArn"], "version": "$LATEST"}
        if desired["alias"]:
            outputs.update(self._publish(client, node, desired, None, ctx))
        return outputs

    def _configuration_request(self, desired) -> dict:
        request = {"Runtime": desired["runtime"], "Handler": desired["handler"], "Role": desired["role"],
                   "MemorySize": desired["memory"], "Timeout": desired["timeout"],
                   "EphemeralStorage": {"Size": desired["ephemeral_storage"]},
                   "Description": desired["description"], "TracingConfig": {"Mode": desired["tracing"]},
                   "Environment": {"Variables": desired["environment"]}, "Layers": desired["layers"],
                   # an empty target removes a dead-letter queue set before
                   "DeadLetterConfig": {"TargetArn": desired["dead_letter_queue"] or ""}}
        return request

    def _wait(self, client, waiter, name, node, ctx):
        ctx.progress(node.address, "waiting for the function to be ready")
        client.get_waiter(waiter).wait(FunctionName=name, WaiterConfig=WAIT)

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("lambda")
        name = node.physical_name
        have = actual.props
        fields = {d.field for d in diffs}
        changed_function = False
        if fields & set(CONFIG_FIELDS):
            eventually(ROLE_NOT_READY, timeout=120, message_contains="cannot be assumed")(
                client.update_function_configuration)(FunctionName=name, **self._configuration_request(desired))
            self._wait(client, "function_updated_v2", name, node, ctx)
            changed_function = True
        if fields & {"code_sha256", "code_location", "architecture"}:
            client.update_function_code(FunctionName=name, **self._code(desired, node, ctx),
                                        Architectures=[desired["architecture"]])
            self._wait(client, "function_updated_v2", name, node, ctx)
            changed_function = True
        if "reserved_concurrency" in fields:
            if desired["reserved_concurrency"] is None:
                client.delete_function_concurrency(FunctionName=name)
            else:
                client.put_function_concurrency(FunctionName=name,
                                                ReservedConcurrentExecutions=desired["reserved_concurrency"])
        if "async" in fields:
            if desired["async"]:
                self._put_async(client, name, desired["async"])
            else:
                client.delete_function_event_invoke_config(FunctionName=name)
        if "permissions" in fields:
            for sid in sorted(set(have["permissions"]) - set(desired["permissions"])):
                client.remove_permission(FunctionName=name, StatementId=sid)
            for sid, permission in desired["permissions"].items():
                if have["permissions"].get(sid) != permission:
                    if sid in have["permissions"]:
                        client.remove_permission(FunctionName=name, StatementId=sid)
                    self._add_permission(client, name, sid, permission)
        if "triggers" in fields:
            self._update_triggers(client, name, desired, have, node, ctx)
        if "tags" in fields:
            arn = actual.outputs["arn"]
            retag(desired["tags"], have["tags"], lambda keys: client.untag_resource(Resource=arn, TagKeys=keys),
                  lambda tags: client.tag_resource(Resource=arn, Tags=tags))
        if desired["alias"] and (changed_function or "alias" in fields):
            return self._publish(client, node, desired, have.get("alias"), ctx)
        return {}

    def _put_async(self, client, name, config):
        destinations = {}
        for key, field in (("OnFailure", "on_failure"), ("OnSuccess", "on_success")):
            if config[field]:
                destinations[key] = {"Destination": config[field]}
        client.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=config["max_retries"],
            MaximumEventAgeInSeconds=config["max_event_age_seconds"], DestinationConfig=destinations)

    def _add_permission(self, client, name, sid, permission):
        request = {"FunctionName": name, "StatementId": sid, "Action": "lambda:InvokeFunction",
                   "Principal": permission["principal"], "SourceArn": permission["source_arn"]}
        if permission["source_account"]:
            request["SourceAccount"] = permission["source_account"]
        client.add_permission(**request)

    def _trigger_request(self, trigger) -> dict:
        request = {"BatchSize": trigger["batch_size"], "Enabled": trigger["enabled"],
                   "MaximumBatchingWindowInSeconds": trigger["batching_window_seconds"],
                   "FunctionResponseTypes": ["ReportBatchItemFailures"] if trigger["report_batch_item_failures"]
                   else []}
        if "maximum_concurrency" in trigger:
            if trigger["maximum_concurrency"]:
                request["ScalingConfig"] = {"MaximumConcurrency": trigger["maximum_concurrency"]}
        else:
            request.update(MaximumRetryAttempts=trigger["maximum_retry_attempts"],
                           BisectBatchOnFunctionError=trigger["bisect_on_error"])
        return request

    def _create_trigger(self, client, name, source, trigger, desired, node, ctx):
        request = {"FunctionName": name, "EventSourceArn": source, **self._trigger_request(trigger)}
        start = next((t.get("starting_position") for t in desired["_triggers"] if t["source"] == source), None)
        if start:
            request["StartingPosition"] = start
        # the role's grant on the source may still be propagating
        eventually(ROLE_NOT_READY, timeout=120, message_contains="permission",
                   on_wait=lambda m: ctx.progress(node.address, "waiting for the role's access to the source"))(
            client.create_event_source_mapping)(**request)

    def _update_triggers(self, client, name, desired, have, node, ctx):
        found, ids = have["triggers"], have["_mapping_ids"]
        for source in sorted(set(found) - set(desired["triggers"])):
            client.delete_event_source_mapping(UUID=ids[source])
        for source, trigger in desired["triggers"].items():
            if source not in found:
                self._create_trigger(client, name, source, trigger, desired, node, ctx)
            elif found[source] != trigger:
                client.update_event_source_mapping(UUID=ids[source], FunctionName=name,
                                                   **self._trigger_request(trigger))

    def _publish(self, client, node, desired, have_alias, ctx):
        """Publish $LATEST as a version (AWS returns the newest one when nothing changed since) and move
        the alias to it; provisioned concurrency lives on the alias, never on $LATEST."""
        name, alias = node.physical_name, desired["alias"]
        version = client.publish_version(FunctionName=name)["Version"]
        if have_alias is None:
            found = unless_missing(client.get_alias, *NOT_FOUND, FunctionName=name, Name=alias["name"])
        else:
            found = have_alias
        if found is None:
            alias_arn = client.create_alias(FunctionName=name, Name=alias["name"], FunctionVersion=version)["AliasArn"]
        else:
            alias_arn = client.update_alias(FunctionName=name, Name=alias["name"], FunctionVersion=version)["AliasArn"]
        wanted = alias["provisioned_concurrency"]
        had = (have_alias or {}).get("provisioned_concurrency")
        if had is not NOT_RETURNED and wanted != had:
            try:
                if wanted:
                    client.put_provisioned_concurrency_config(FunctionName=name, Qualifier=alias["name"],
                                                              ProvisionedConcurrentExecutions=wanted)
                else:
                    client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=alias["name"])
            except CALL_ERRORS as exc:
                if not is_not_emulated(exc):
                    raise
                ctx.warn(f"{node.address}: alias.provisioned_concurrency: not emulated by this endpoint "
                         "(PutProvisionedConcurrencyConfig); not applied")
        return {"version": version, "alias_arn": alias_arn}

    # --- delete / discover ---
    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.rsplit(":", 1)[-1], arn)

    def delete(self, resource, ctx):
        client = ctx.client("lambda")
        name = resource.physical_id
        with missing_is_done(*NOT_FOUND):
            for page in client.get_paginator("list_event_source_mappings").paginate(FunctionName=name):
                for mapping in page["EventSourceMappings"]:
                    client.delete_event_source_mapping(UUID=mapping["UUID"])
            client.delete_function(FunctionName=name)
