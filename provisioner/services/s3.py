"""S3 buckets: versioning, encryption, public access block, lifecycle, policy, CORS, notifications, tags
(each setting's calls are in s3_settings).

Destroy removes the notification configuration (emptying must not send events) and the bucket
policy (a deny-insecure-transport statement would otherwise lock an emulator out of the objects),
empties every object version and delete marker in batches of 1000, then deletes the bucket.
"""
from __future__ import annotations

import functools

import botocore.exceptions

from provisioner.aws.errors import is_not_found
from provisioner.engine.operations import Call, Together
from provisioner.errors import ProvisionerError
from provisioner.services import s3_settings as settings
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler, changed_fields
from provisioner.services.delivery import (
    Delivery,
    logical_sid,
    managed_key_refusal,
    service_key_statement,
    service_sid,
)
from provisioner.services.iam import strip_lint_keys
from provisioner.services.s3_settings import TARGET_KINDS
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref, Template

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
    # the bucket, then the settings a bucket may lack
    missing = ("NoSuchBucket", "404", "NotFound", "ServerSideEncryptionConfigurationNotFoundError",
               "NoSuchPublicAccessBlockConfiguration", "NoSuchLifecycleConfiguration", "NoSuchBucketPolicy",
               "NoSuchCORSConfiguration")
    tag_api = TagApi("s3", "Bucket", "name", tag="put_bucket_tagging", list="get_bucket_tagging",
                     tags_param="Tagging", listed="TagSet", wrapper="TagSet", replaces=True)
    updates = ((frozenset(settings.WRITES), "_write_settings"),)

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
            "lifecycle": {rule["id"]: settings.lifecycle_rule(rule) for rule in props["lifecycle"]},
            "policy": None,
            "cors": [settings.cors_rule(rule) for rule in props["cors"]],
            "notifications": {},
            "_policy_document": self._policy(node, ctx),
            "_notifications": self._notifications(node),
        }

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
                return self.tag_api.parse(client.get_bucket_tagging(Bucket=name))
            except botocore.exceptions.ClientError as exc:
                if is_not_found(exc, "NoSuchTagSet"):
                    return {}
                if is_not_found(exc, *self.missing):
                    return None
                raise

        tags = ctx.tags_of(f"arn:{ctx.aws.partition}:s3:::{name}", fetch_tags)
        if tags is None:
            return None
        found_tags = tags
        if not tags and ctx.intents and f"s3:{name}" in ctx.intents.pending("s3:"):
            found_tags = ctx.tags_for(node)   # created by a run of ours that was killed before tagging it
        get = functools.partial(self.get, ctx)
        props = ctx.concurrently({
            "versioning": lambda: settings.read_versioning(get, name),
            "encryption": lambda: settings.read_encryption(get, name),
            "public_access_block": lambda: settings.read_public_access_block(get, name),
            "lifecycle": lambda: settings.read_lifecycle(get, name, ctx.aws.emulated),
            "policy": lambda: settings.read_policy(get, name),
            "cors": lambda: settings.read_cors(get, name),
            "notifications": lambda: settings.read_notifications(get, name),
        })
        props["tags"] = tags
        return Observed(props, self.predicted_outputs(node, ctx), found_tags)

    # --- write ---
    def create(self, node, desired, ctx):
        name = node.physical_name
        request = {"Bucket": name, "ObjectOwnership": "BucketOwnerEnforced"}
        if ctx.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        # CreateBucket takes no tags: announce the bucket first, so that a run killed before the tagging
        # still finds it as ours (and a foreign bucket of that name is never taken for ours)
        if ctx.intents:
            ctx.intents.intend(f"s3:{name}")
        yield Call("s3", "create_bucket", request)
        yield Call("s3", "put_bucket_tagging", {"Bucket": name, "Tagging": self.tag_api.format(desired["tags"])})
        if ctx.intents:
            ctx.intents.fulfilled(f"s3:{name}")
        # a new bucket has none of these: only what the spec sets is written
        wanted = {"public_access_block": desired["public_access_block"], "encryption": desired["encryption"],
                  "lifecycle": desired["lifecycle"], "cors": desired["cors"], "policy": desired["_policy_document"],
                  "notifications": desired["notifications"], "versioning": desired["versioning"] == "Enabled"}
        yield from self._write_settings(node, desired, None, {field for field, value in wanted.items() if value}, ctx)
        return self.predicted_outputs(node, ctx)

    def update(self, node, desired, actual, diffs, ctx):
        outputs = yield from super().update(node, desired, actual, diffs, ctx)
        if ctx.intents and not actual.props["tags"] and "tags" in changed_fields(diffs):
            ctx.intents.fulfilled(f"s3:{node.physical_name}")   # tagged at last, after a killed run (see create)
        return outputs

    def _write_settings(self, node, desired, actual, fields, ctx):
        """Each setting with its own call, all at the same time: they are independent sub-resources of the
        bucket (S3 may answer OperationAborted to calls that race on one bucket: retried)."""
        yield Together(tuple(write(node.physical_name, desired)
                             for field, write in settings.WRITES.items() if field in fields))

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

    def delete(self, resource, ctx):
        name = resource.physical_id
        # Emptying must not send ObjectRemoved events to targets that are being destroyed too, nor be
        # refused by the bucket's policy: both go first; whether there is anything to empty is asked
        # meanwhile, so an empty bucket takes two rounds of calls.
        *_, objects = yield Together((
            Call("s3", "put_bucket_notification_configuration", {"Bucket": name, "NotificationConfiguration": {}},
                 missing_ok=True),
            Call("s3", "delete_bucket_policy", {"Bucket": name}, missing_ok=True),
            Call("s3", "list_object_versions", {"Bucket": name, "MaxKeys": 1}, missing_ok=True)))
        if objects is not None:   # else the bucket is gone already
            if objects.get("Versions") or objects.get("DeleteMarkers"):
                yield from self._empty(name)
            yield Call("s3", "delete_bucket", {"Bucket": name}, missing_ok=True)
        if ctx.intents:
            ctx.intents.fulfilled(f"s3:{name}")

    def _empty(self, name):
        """Delete every object version and delete marker, a page of ListObjectVersions at a time."""
        markers = {}
        while True:
            page = yield Call("s3", "list_object_versions", {"Bucket": name, "MaxKeys": 1000, **markers},
                              missing_ok=True)
            if page is None:
                return
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if objects:
                result = yield Call("s3", "delete_objects",
                                    {"Bucket": name, "Delete": {"Objects": objects, "Quiet": True}}, missing_ok=True)
                if (result or {}).get("Errors"):
                    error = result["Errors"][0]
                    raise ProvisionerError(f"DeleteObjects failed for {error.get('Key')}: {error.get('Code')} "
                                           f"{error.get('Message')}")
            markers = {marker: page[following] for marker, following in
                       (("KeyMarker", "NextKeyMarker"), ("VersionIdMarker", "NextVersionIdMarker"))
                       if page.get(following)}
            if not page.get("IsTruncated") or not markers:
                return

    def has_data(self, resource, ctx):
        page = self.get(ctx, "list_object_versions", Bucket=resource.physical_id, MaxKeys=1) or {}
        return bool(page.get("Versions") or page.get("DeleteMarkers"))
