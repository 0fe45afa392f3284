"""S3 buckets: versioning, encryption, public access block, lifecycle, policy, CORS, notifications, tags.

Destroy removes the notification configuration (emptying must not send events) and the bucket
policy (a deny-insecure-transport statement would otherwise lock an emulator out of the objects), empties every object version and delete marker in batches of
1000, then deletes the bucket.
"""
from __future__ import annotations

import botocore.exceptions

from provisioner.aws.errors import is_not_found, missing_is_done, unless_missing
from provisioner.aws.retries import eventually
from provisioner.errors import ProvisionerError
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.services.base import (
    NOT_RETURNED,
    Delivery,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    logical_sid,
    managed_key_refusal,
    service_key_statement,
    service_sid,
    tags_from_list,
    tags_to_list,
)
from provisioner.services.iam import strip_lint_keys
from provisioner.spec.refs import Ref, Template

NO_BUCKET = ("NoSuchBucket", "404", "NotFound")
CONCURRENT_UPDATE = ("OperationAborted",)   # "A conflicting conditional operation is currently in progress"
TARGET_KINDS = {"sqs_queue": ("sqs_queues", "QueueConfigurations", "QueueArn"),
                "sns_topic": ("sns_topics", "TopicConfigurations", "TopicArn"),
                "function": ("lambda_functions", "LambdaFunctionConfigurations", "LambdaFunctionArn")}


# S3 server access logs and load balancer access logs support no SSE-KMS destination
SSE_S3_ONLY_DELIVERY = {"logging.s3.amazonaws.com", "logdelivery.elasticloadbalancing.amazonaws.com"}


class S3Buckets(Reconciler):
    kind = "s3_buckets"
    service = "s3"
    attributes = frozenset({"arn", "name", "domain_name", "regional_domain_name"})
    name_rule = NameRule(r"(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]*[a-z0-9]", 3, 63,
                         "an S3 bucket name",
                         "lower-case letters, digits, '.' and '-', starting and ending with a letter or digit")
    tagging_type = "s3"
    rank = 25
    data_bearing = True
    opt_outs = ((("versioning",), False, "overwritten and deleted objects cannot be recovered (FSBP S3.14)"),
                (("deny_insecure_transport",), False, "requests without TLS are allowed (FSBP S3.5)"),
                (("encryption", "sse"), "s3", "objects are encrypted with S3 managed keys, not KMS (FSBP S3.17)"))

    def physical_name(self, node):
        """Bucket names are global: the default carries the account id, bound when a run starts."""
        if node.props.get("name") is None:
            return node.default_physical_name + "-{account_id}"
        return node.default_physical_name

    # --- spec checks ---
    def validate(self, node, spec):
        props = node.props
        out = self.lint(props.get("policy"), ("policy",), spec)
        block = props["public_access_block"]
        off = sorted(k for k, v in block.items() if not v)
        if off:
            out.append((("public_access_block",), f"public access block settings turned off: {', '.join(off)}; "
                                                  "the bucket may become public", "warning"))
        for index, rule in enumerate(props["lifecycle"]):
            actions = ("expire_days", "noncurrent_expire_days", "abort_multipart_days", "transitions",
                       "noncurrent_transitions")
            if not any(rule.get(a) for a in actions):
                out.append((("lifecycle", index), "lifecycle rule has no action (expire_days, "
                                                  "noncurrent_expire_days, abort_multipart_days, transitions)", "error"))
            if rule.get("noncurrent_expire_days") and not props["versioning"]:
                out.append((("lifecycle", index, "noncurrent_expire_days"),
                            "noncurrent versions only exist with versioning: true", "warning"))
        out += self._encryption_problems(props, spec.deliveries_to(node.address))
        ids = [r["id"] for r in props["lifecycle"]]
        for index, rule_id in enumerate(ids):
            if ids.index(rule_id) != index:
                out.append((("lifecycle", index, "id"), f"duplicate lifecycle rule id '{rule_id}'", "error"))
        return out

    def _encryption_problems(self, props, deliveries) -> list:
        encryption, path = props["encryption"], ("encryption",)
        services = sorted({d["service"] for d in props["log_delivery"]} | {d.service for d in deliveries})
        if encryption["sse"] == "s3":
            return [(path + ("kms_key",), "a kms_key needs sse: kms", "error")] if "kms_key" in encryption else []
        sse_s3_only = [s for s in services if s in SSE_S3_ONLY_DELIVERY]
        if sse_s3_only:
            return [(path, f"{', '.join(sse_s3_only)} delivers only to buckets encrypted with SSE-S3: "
                           "set encryption: {sse: s3}", "error")]
        if services and "kms_key" not in encryption:
            return [(path, managed_key_refusal(", ".join(services), "aws/s3"), "error")]
        return []

    def kms_key_statements(self, node, ctx):
        """The services writing logs here encrypt with the bucket's key too."""
        return super().kms_key_statements(node, ctx) + [
            service_key_statement(service, ctx.account_id)
            for service in sorted({d["service"] for d in node.props["log_delivery"]})]

    def deliveries(self, node, spec):
        out = []
        for notification in node.props["notifications"]:
            for field in TARGET_KINDS:
                if isinstance(notification.get(field), Ref):
                    out.append(Delivery(notification[field].address, "s3.amazonaws.com", node.address,
                                        f"arn:aws:s3:::{node.physical_name}"))
        return out

    def predicted_outputs(self, node, ctx):
        name = node.physical_name
        return {"name": name, "arn": f"arn:{ctx.aws.partition}:s3:::{name}",
                "domain_name": f"{name}.s3.amazonaws.com",
                "regional_domain_name": f"{name}.s3.{ctx.region}.amazonaws.com"}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        encryption = props["encryption"]
        kms = encryption["sse"] == "kms"
        return {
            "versioning": "Enabled" if props["versioning"] else "Suspended",
            # without a key of the spec, SSE-KMS uses the AWS managed key aws/s3 (no key id is read back)
            "encryption": {"algorithm": "aws:kms" if kms else "AES256", "kms_key": encryption.get("kms_key"),
                           "bucket_key": encryption["bucket_key"] if kms else False},
            "public_access_block": dict(props["public_access_block"]),
            "lifecycle": {rule["id"]: self._rule(rule) for rule in props["lifecycle"]},
            "policy": None,
            "cors": [self._cors(rule) for rule in props["cors"]],
            "notifications": {},
            "tags": ctx.tags_for(node),
            "_policy_document": self._policy(node, ctx),
            "_notifications": self._notifications(node),
        }

    def _rule(self, rule):
        return {
            "enabled": rule["enabled"],
            "prefix": rule.get("prefix", ""),
            "tags": dict(sorted(rule.get("tags", {}).items())),
            "expire_days": rule.get("expire_days"),
            "noncurrent_expire_days": rule.get("noncurrent_expire_days"),
            "noncurrent_newer_versions": rule.get("noncurrent_newer_versions"),
            "abort_multipart_days": rule.get("abort_multipart_days"),
            "transitions": [{"days": t["days"], "storage_class": t["storage_class"]}
                            for t in sorted(rule.get("transitions", []), key=lambda t: t["days"])],
            "noncurrent_transitions": [{"days": t["days"], "storage_class": t["storage_class"]}
                                       for t in sorted(rule.get("noncurrent_transitions", []),
                                                       key=lambda t: t["days"])],
        }

    def _cors(self, rule):
        return {"allowed_origins": sorted(rule["allowed_origins"]), "allowed_methods": sorted(rule["allowed_methods"]),
                "allowed_headers": sorted(rule.get("allowed_headers", [])),
                "expose_headers": sorted(rule.get("expose_headers", [])),
                "max_age_seconds": rule.get("max_age_seconds")}

    def _policy(self, node, ctx):
        props = node.props
        bucket = Ref(node.address, "arn")
        objects = Template((bucket, "/*"))
        statements = []
        if props["deny_insecure_transport"]:
            statements.append({"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                               "Action": "s3:*", "Resource": [bucket, objects],
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
        for index, delivery in enumerate(props["log_delivery"]):
            prefix = delivery.get("prefix", "")
            statements.append({
                "Sid": f"AllowLogDelivery{index}", "Effect": "Allow",
                "Principal": {"Service": delivery["service"]}, "Action": "s3:PutObject",
                "Resource": Template((bucket, f"/{prefix}*")),
                "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}})
        for delivery in ctx.deliveries_to(node.address):
            if delivery.service == "cloudfront.amazonaws.com":   # a distribution reading through its OAC
                statements.append({
                    "Sid": f"Allow{service_sid(delivery.service)}{logical_sid(delivery.source)}", "Effect": "Allow",
                    "Principal": {"Service": delivery.service}, "Action": "s3:GetObject", "Resource": objects,
                    "Condition": delivery.condition(ctx.account_id)})
        statements.extend((strip_lint_keys(props.get("policy")) or {}).get("Statement", []))
        return {"Version": "2012-10-17", "Statement": statements} if statements else None

    def _notifications(self, node):
        out = []
        for index, notification in enumerate(node.props["notifications"]):
            field = next(f for f in TARGET_KINDS if f in notification)
            ref = notification[field]
            out.append({"id": notification.get("id") or f"{field}-{ref.address.split('.', 1)[1]}-{index}",
                        "field": field, "target": Ref(ref.address, "arn"),
                        "events": sorted(notification["events"]),
                        "prefix": notification.get("prefix", ""), "suffix": notification.get("suffix", "")})
        return out

    def normalize(self, desired):
        desired = super().normalize(desired)
        notifications = {n["id"]: {"target": str(n["target"]), "events": n["events"], "prefix": n["prefix"],
                                   "suffix": n["suffix"]} for n in desired["_notifications"]}
        return {**desired, "notifications": notifications}

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("s3")
        name = node.physical_name

        def fetch_tags():   # also tells whether the bucket exists
            try:
                return tags_from_list(client.get_bucket_tagging(Bucket=name).get("TagSet", []))
            except botocore.exceptions.ClientError as exc:
                if is_not_found(exc, *NO_BUCKET):
                    return None
                if not is_not_found(exc, "NoSuchTagSet"):
                    raise
                return {}

        tags = ctx.tags_of(f"arn:{ctx.aws.partition}:s3:::{name}", fetch_tags)
        if tags is None:
            return None
        found_tags = tags
        if not tags and ctx.intents and f"s3:{name}" in ctx.intents.pending("s3:"):
            found_tags = ctx.tags_for(node)   # created by a run of ours that was killed before tagging it
        props = ctx.concurrently({
            "versioning": lambda: client.get_bucket_versioning(Bucket=name).get("Status", "Suspended"),
            "encryption": lambda: self._read_encryption(client, name),
            "public_access_block": lambda: self._read_public_access_block(client, name),
            "lifecycle": lambda: self._read_lifecycle(client, name, ctx),
            "policy": lambda: self._read_policy(client, name),
            "cors": lambda: self._read_cors(client, name),
            "notifications": lambda: self._read_notifications(client, name),
        })
        props["tags"] = tags
        return Observed(props, self.predicted_outputs(node, ctx), found_tags)

    def _read_encryption(self, client, name):
        found = unless_missing(client.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError",
                               Bucket=name)
        if found is None:
            return None
        rules = found["ServerSideEncryptionConfiguration"]["Rules"]
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
        kms = default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse")
        return {"algorithm": default.get("SSEAlgorithm"), "kms_key": default.get("KMSMasterKeyID") if kms else None,
                "bucket_key": bool(rules[0].get("BucketKeyEnabled")) if kms else False}

    def _read_public_access_block(self, client, name):
        found = unless_missing(client.get_public_access_block, "NoSuchPublicAccessBlockConfiguration",
                               default={}, Bucket=name)
        block = found.get("PublicAccessBlockConfiguration", {})
        return {field: bool(block.get(key, False)) for field, key in PUBLIC_ACCESS_BLOCK.items()}

    def _read_lifecycle(self, client, name, ctx):
        rules = unless_missing(client.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration",
                               default={}, Bucket=name).get("Rules", [])
        out = {}
        for rule in rules:
            found = rule.get("Filter", {})
            conditions = found.get("And", found)
            tags = conditions.get("Tags", []) + ([conditions["Tag"]] if "Tag" in conditions else [])
            noncurrent = rule.get("NoncurrentVersionExpiration", {})
            newer = noncurrent.get("NewerNoncurrentVersions")
            if newer is None and noncurrent and ctx.aws.emulated:
                newer = NOT_RETURNED   # the emulator drops it (see the README)
            out[rule.get("ID", "")] = {
                "enabled": rule.get("Status") == "Enabled",
                "prefix": conditions.get("Prefix", rule.get("Prefix", "")),
                "tags": dict(sorted((t["Key"], t["Value"]) for t in tags)),
                "expire_days": rule.get("Expiration", {}).get("Days"),
                "noncurrent_expire_days": noncurrent.get("NoncurrentDays"),
                "noncurrent_newer_versions": newer,
                "abort_multipart_days": rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
                "transitions": sorted(({"days": t.get("Days"), "storage_class": t["StorageClass"]}
                                       for t in rule.get("Transitions", [])), key=lambda t: t["days"] or 0),
                "noncurrent_transitions": sorted(
                    ({"days": t.get("NoncurrentDays"), "storage_class": t["StorageClass"]}
                     for t in rule.get("NoncurrentVersionTransitions", [])), key=lambda t: t["days"] or 0),
            }
        return out

    def _read_policy(self, client, name):
        found = unless_missing(client.get_bucket_policy, "NoSuchBucketPolicy", default={}, Bucket=name)
        return canonical_policy(found.get("Policy"))

    def _read_cors(self, client, name):
        rules = unless_missing(client.get_bucket_cors, "NoSuchCORSConfiguration", default={},
                               Bucket=name).get("CORSRules", [])
        return [{"allowed_origins": sorted(r.get("AllowedOrigins", [])),
                 "allowed_methods": sorted(r.get("AllowedMethods", [])),
                 "allowed_headers": sorted(r.get("AllowedHeaders", [])),
                 "expose_headers": sorted(r.get("ExposeHeaders", [])),
                 "max_age_seconds": r.get("MaxAgeSeconds")} for r in rules]

    def _read_notifications(self, client, name):
        config = client.get_bucket_notification_configuration(Bucket=name)
        out = {}
        for _, key, arn_key in TARGET_KINDS.values():
            for item in config.get(key, []):
                rules = {r["Name"].lower(): r["Value"]
                         for r in item.get("Filter", {}).get("Key", {}).get("FilterRules", [])}
                out[item.get("Id", "")] = {"target": item[arn_key], "events": sorted(item["Events"]),
                                           "prefix": rules.get("prefix", ""), "suffix": rules.get("suffix", "")}
        return out

    # --- write ---
    def create(self, node, desired, ctx):
        client = ctx.client("s3")
        name = node.physical_name
        request = {"Bucket": name, "ObjectOwnership": "BucketOwnerEnforced"}
        if ctx.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        # CreateBucket takes no tags: announce the bucket first, so that a run killed before the tagging
        # still finds it as ours (and a foreign bucket of that name is never taken for ours)
        if ctx.intents:
            ctx.intents.intend(f"s3:{name}")
        client.create_bucket(**request)
        client.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags_to_list(desired["tags"])})
        if ctx.intents:
            ctx.intents.fulfilled(f"s3:{name}")
        actual = Observed({"tags": desired["tags"], "versioning": "Suspended", "lifecycle": {}, "cors": [],
                           "notifications": {}, "policy": None, "encryption": None,
                           "public_access_block": None}, {}, desired["tags"])
        # a new bucket has none of these: only what the spec sets is written
        wanted = {"public_access_block": desired["public_access_block"], "encryption": desired["encryption"],
                  "lifecycle": desired["lifecycle"], "cors": desired["cors"], "policy": desired["_policy_document"],
                  "notifications": desired["notifications"], "versioning": desired["versioning"] == "Enabled"}
        fields = {field for field, value in wanted.items() if value}
        self._apply(node, desired, actual, fields, ctx)
        return {k: v for k, v in self.predicted_outputs(node, ctx).items()}

    def update(self, node, desired, actual, diffs, ctx):
        self._apply(node, desired, actual, {d.field for d in diffs}, ctx)
        return {}

    def _apply(self, node, desired, actual, fields, ctx):
        """Write the settings in fields, each with its own call, all at the same time: they are independent
        sub-resources of the bucket. S3 may answer OperationAborted to calls that race on one bucket: retried."""
        client = ctx.client("s3")
        name = node.physical_name
        writes = {}
        if "public_access_block" in fields:
            writes["public_access_block"] = lambda: client.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration={
                    key: desired["public_access_block"][field] for field, key in PUBLIC_ACCESS_BLOCK.items()})
        if "encryption" in fields:
            encryption = desired["encryption"]
            default = {"SSEAlgorithm": encryption["algorithm"]}
            if encryption["kms_key"]:
                default["KMSMasterKeyID"] = encryption["kms_key"]
            writes["encryption"] = lambda: client.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
                    "ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": encryption["bucket_key"]}]})
        if "versioning" in fields:
            writes["versioning"] = lambda: client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": desired["versioning"]})
        if "lifecycle" in fields:
            writes["lifecycle"] = (lambda: client.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={
                    "Rules": [self._lifecycle_rule(i, r) for i, r in desired["lifecycle"].items()]})
            ) if desired["lifecycle"] else (lambda: client.delete_bucket_lifecycle(Bucket=name))
        if "cors" in fields:
            writes["cors"] = (lambda: client.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
                {k: v for k, v in {"AllowedOrigins": r["allowed_origins"], "AllowedMethods": r["allowed_methods"],
                                   "AllowedHeaders": r["allowed_headers"], "ExposeHeaders": r["expose_headers"],
                                   "MaxAgeSeconds": r["max_age_seconds"]}.items() if v not in (None, [])}
                for r in desired["cors"]]})) if desired["cors"] else (lambda: client.delete_bucket_cors(Bucket=name))
        if "policy" in fields:
            writes["policy"] = (lambda: client.put_bucket_policy(
                Bucket=name, Policy=policy_json(desired["_policy_document"]))
            ) if desired["_policy_document"] else (lambda: client.delete_bucket_policy(Bucket=name))
        if "notifications" in fields:
            writes["notifications"] = lambda: self._put_notifications(client, name, desired, node, ctx)
        if "tags" in fields and actual.props["tags"] != desired["tags"]:
            def retag():
                client.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags_to_list(desired["tags"])})
                if ctx.intents and not actual.props["tags"]:
                    ctx.intents.fulfilled(f"s3:{name}")
            writes["tags"] = retag
        ctx.concurrently({facet: eventually(CONCURRENT_UPDATE, timeout=60)(write) for facet, write in writes.items()})

    def _lifecycle_rule(self, rule_id, rule):
        conditions = {}
        if rule["prefix"]:
            conditions["Prefix"] = rule["prefix"]
        tags = [{"Key": k, "Value": v} for k, v in rule["tags"].items()]
        if len(conditions) + len(tags) > 1:
            flt = {"And": {**conditions, **({"Tags": tags} if tags else {})}}
        elif tags:
            flt = {"Tag": tags[0]}
        else:
            flt = conditions
        out = {"ID": rule_id, "Status": "Enabled" if rule["enabled"] else "Disabled", "Filter": flt}
        if rule["expire_days"]:
            out["Expiration"] = {"Days": rule["expire_days"]}
        if rule["noncurrent_expire_days"]:
            out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["noncurrent_expire_days"]}
            if rule["noncurrent_newer_versions"]:
                out["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = rule["noncurrent_newer_versions"]
        if rule["abort_multipart_days"]:
            out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule["abort_multipart_days"]}
        if rule["transitions"]:
            out["Transitions"] = [{"Days": t["days"], "StorageClass": t["storage_class"]} for t in rule["transitions"]]
        if rule["noncurrent_transitions"]:
            out["NoncurrentVersionTransitions"] = [{"NoncurrentDays": t["days"], "StorageClass": t["storage_class"]}
                                                   for t in rule["noncurrent_transitions"]]
        return out

    def _put_notifications(self, client, name, desired, node, ctx):
        config = {}
        for notification in desired["_notifications"]:
            _, key, arn_key = TARGET_KINDS[notification["field"]]
            item = {"Id": notification["id"], arn_key: notification["target"], "Events": notification["events"]}
            rules = [{"Name": n, "Value": notification[n]} for n in ("prefix", "suffix") if notification[n]]
            if rules:
                item["Filter"] = {"Key": {"FilterRules": rules}}
            config.setdefault(key, []).append(item)
        # S3 validates each destination; a queue/topic policy or lambda permission just written may
        # not have propagated yet.
        put = eventually(("InvalidArgument",), timeout=60, message_contains="Unable to validate",
                         on_wait=lambda m: ctx.progress(node.address, "waiting for destination permissions"))(
            client.put_bucket_notification_configuration)
        put(Bucket=name, NotificationConfiguration=config, SkipDestinationValidation=False)

    # --- delete / discover ---
    def discover(self, ctx):
        """Tagged buckets, and announced ones a killed run did not get to tag (see create)."""
        owned = super().discover(ctx)
        pending = ctx.intents.pending("s3:") if ctx.intents else []
        if pending:
            known = {resource.physical_id for resource in owned}
            existing = {bucket["Name"] for bucket in ctx.client("s3").list_buckets()["Buckets"]}
            for resource in pending:
                name = resource.removeprefix("s3:")
                if name not in known and name in existing:
                    address = next((n.address for n in (ctx.spec.nodes.values() if ctx.spec else [])
                                    if n.kind == self.kind and n.physical_name == name), "")
                    owned.append(OwnedResource(self.kind, address, name, f"arn:aws:s3:::{name}"))
        return owned

    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.rsplit(":", 1)[-1], arn)

    def delete(self, resource, ctx):
        client = ctx.client("s3")
        name = resource.physical_id
        with missing_is_done(*NO_BUCKET):
            # Emptying must not send ObjectRemoved events to targets that are being destroyed too, nor be
            # refused by the bucket's policy: both go first; whether there is anything to empty is asked
            # meanwhile, so an empty bucket takes two rounds of calls.
            first = ctx.concurrently({
                "notifications": lambda: client.put_bucket_notification_configuration(
                    Bucket=name, NotificationConfiguration={}),
                "policy": lambda: client.delete_bucket_policy(Bucket=name),
                "objects": lambda: client.list_object_versions(Bucket=name, MaxKeys=1),
            })
            if first["objects"].get("Versions") or first["objects"].get("DeleteMarkers"):
                self._empty(client, name)
            client.delete_bucket(Bucket=name)
        if ctx.intents:
            ctx.intents.fulfilled(f"s3:{name}")

    def _empty(self, client, name):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name, MaxKeys=1000):
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if objects:
                result = client.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
                if result.get("Errors"):
                    error = result["Errors"][0]
                    raise ProvisionerError(f"DeleteObjects failed for {error.get('Key')}: {error.get('Code')} "
                                       f"{error.get('Message')}")

    def has_data(self, resource, ctx):
        page = unless_missing(ctx.client("s3").list_object_versions, *NO_BUCKET, default={},
                              Bucket=resource.physical_id, MaxKeys=1)
        return bool(page.get("Versions") or page.get("DeleteMarkers"))


PUBLIC_ACCESS_BLOCK = {"block_public_acls": "BlockPublicAcls", "ignore_public_acls": "IgnorePublicAcls",
                       "block_public_policy": "BlockPublicPolicy", "restrict_public_buckets": "RestrictPublicBuckets"}
