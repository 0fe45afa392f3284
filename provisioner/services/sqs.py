"""SQS queues, with redrive to a queue of the spec and generated statements for SNS delivery."""
from __future__ import annotations

import json

from provisioner.engine.operations import Call
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler, fifo_physical_name
from provisioner.services.delivery import logical_sid, service_sid
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref

ATTRIBUTES = {   # spec field -> SQS attribute, for the plain integer settings
    "retention_seconds": "MessageRetentionPeriod",
    "visibility_timeout": "VisibilityTimeout",
    "delay_seconds": "DelaySeconds",
    "max_message_size": "MaximumMessageSize",
    "receive_wait_seconds": "ReceiveMessageWaitTimeSeconds",
}


class SqsQueues(Reconciler):
    kind = "sqs_queues"
    service = "sqs"
    attributes = frozenset({"arn", "url", "name"})
    name_rule = NameRule(r"[A-Za-z0-9_-]+(\.fifo)?", 1, 80, "an SQS queue name",
                         "letters, digits, '_' and '-', optionally ending in .fifo")
    derived_fields = frozenset({"sqs_managed_sse"})
    immutable = frozenset({"fifo"})
    tagging_type = "sqs"
    rank = 20
    data_bearing = True
    missing = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
    tag_api = TagApi("sqs", "QueueUrl", "url", tag="tag_queue", untag="untag_queue", list="list_queue_tags",
                     as_map=True)
    updates = ((frozenset({*ATTRIBUTES, "content_based_deduplication", "kms_key", "kms_data_key_reuse_seconds",
                           "sqs_managed_sse", "dead_letter", "policy"}), "_set_attributes"),)

    def physical_name(self, node):
        return fifo_physical_name(node)

    def validate(self, node, spec):
        props = node.props
        out = self.lint(props.get("policy"), ("policy",), spec)
        if props["content_based_deduplication"] and not props["fifo"]:
            out.append((("content_based_deduplication",), "content-based deduplication needs fifo: true", "error"))
        dead_letter = props.get("dead_letter")
        if dead_letter:
            target = spec.nodes.get(dead_letter["queue"].address)
            if target is not None:
                if target.props["fifo"] != props["fifo"]:
                    out.append((("dead_letter", "queue"),
                                "the dead-letter queue of a FIFO queue must be FIFO, and of a standard queue standard",
                                "error"))
                if target.props["retention_seconds"] < props["retention_seconds"]:
                    out.append((("dead_letter", "queue"),
                                f"dead-letter queue {target.name} keeps messages {target.props['retention_seconds']} s, "
                                f"less than this queue ({props['retention_seconds']} s): messages can expire there "
                                "before anyone looks; give the DLQ the longer retention (e.g. 1209600)", "warning"))
        if "kms_key" not in props and "kms_data_key_reuse_seconds" in (spec.document.data.get(node.kind, {})
                                                                       .get(node.name, {})):
            out.append((("kms_data_key_reuse_seconds",), "only applies with kms_key", "warning"))
        return out

    def arn(self, name, ctx):
        return ctx.aws.arn("sqs", name)

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        kms = props.get("kms_key")
        statements = list((props.get("policy") or {}).get("Statement", []))
        for delivery in ctx.deliveries_to(node.address):
            statements.append({
                "Sid": f"Allow{service_sid(delivery.service)}{logical_sid(delivery.source)}",
                "Effect": "Allow",
                "Principal": {"Service": delivery.service},
                "Action": "sqs:SendMessage",
                "Resource": Ref(node.address, "arn"),
                "Condition": delivery.condition(ctx.account_id),
            })
        policy = {"Version": "2012-10-17", "Statement": statements} if statements else None
        dead_letter = props.get("dead_letter")
        desired = {
            "fifo": props["fifo"],
            "content_based_deduplication": props["content_based_deduplication"] if props["fifo"] else None,
            **{field: props[field] for field in ATTRIBUTES},
            "kms_key": kms,
            "kms_data_key_reuse_seconds": props["kms_data_key_reuse_seconds"] if kms else None,
            "sqs_managed_sse": kms is None,
            "dead_letter": {"target_arn": dead_letter["queue"], "max_receive_count": dead_letter["max_receive_count"]}
            if dead_letter else None,
            "policy": None,
            "_policy_document": policy,
        }
        return desired

    # --- read ---
    def read(self, node, ctx):
        url = self._url(node.physical_name, ctx)
        found = self.get(ctx, "get_queue_attributes", QueueUrl=url, AttributeNames=["All"])
        if found is None:
            return None
        attrs = found["Attributes"]
        tags = self.read_tags(ctx, attrs["QueueArn"], url)
        fifo = attrs.get("FifoQueue") == "true"
        kms = attrs.get("KmsMasterKeyId") or None
        redrive = json.loads(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else None
        props = {
            "fifo": fifo,
            "content_based_deduplication": attrs.get("ContentBasedDeduplication") == "true" if fifo else None,
            **{field: int(attrs[name]) for field, name in ATTRIBUTES.items() if name in attrs},
            "kms_key": kms,
            "kms_data_key_reuse_seconds": int(attrs["KmsDataKeyReusePeriodSeconds"])
            if kms and "KmsDataKeyReusePeriodSeconds" in attrs else None,
            "sqs_managed_sse": attrs.get("SqsManagedSseEnabled") == "true" and not kms,   # SSE-KMS wins
            "dead_letter": {"target_arn": redrive["deadLetterTargetArn"],
                            "max_receive_count": int(redrive["maxReceiveCount"])} if redrive else None,
            "policy": canonical_policy(attrs.get("Policy")),
            "tags": tags,
        }
        outputs = {"arn": attrs["QueueArn"], "url": url, "name": node.physical_name,
                   "_policy": attrs.get("Policy")}
        return Observed(props, outputs, tags)

    # --- write ---
    def _attributes(self, desired, fields=None) -> dict:
        def wanted(field):
            return fields is None or field in fields

        attrs = {name: str(desired[field]) for field, name in ATTRIBUTES.items() if wanted(field)}
        if desired["fifo"] and fields is None:
            attrs["FifoQueue"] = "true"
        if desired["fifo"] and wanted("content_based_deduplication"):
            attrs["ContentBasedDeduplication"] = str(desired["content_based_deduplication"]).lower()
        if wanted("kms_key") or wanted("kms_data_key_reuse_seconds") or wanted("sqs_managed_sse"):
            if desired["kms_key"]:
                attrs["KmsMasterKeyId"] = desired["kms_key"]
                attrs["KmsDataKeyReusePeriodSeconds"] = str(desired["kms_data_key_reuse_seconds"])
            else:
                if fields is not None:
                    attrs["KmsMasterKeyId"] = ""
                attrs["SqsManagedSseEnabled"] = "true"
        if wanted("dead_letter"):
            dead_letter = desired["dead_letter"]
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dead_letter["target_arn"],
                                                 "maxReceiveCount": dead_letter["max_receive_count"]}) \
                if dead_letter else ""
        if wanted("policy"):
            if desired["_policy_document"]:
                attrs["Policy"] = policy_json(desired["_policy_document"])
            elif fields is not None:
                attrs["Policy"] = ""
        return attrs

    def create(self, node, desired, ctx):
        attrs = self._attributes(desired)
        if not attrs.get("RedrivePolicy"):
            attrs.pop("RedrivePolicy", None)
        url = (yield Call("sqs", "create_queue", {"QueueName": node.physical_name, "Attributes": attrs,
                                                  "tags": self.tag_api.format(desired["tags"])}))["QueueUrl"]
        return {"url": url, "arn": self.arn(node.physical_name, ctx)}

    def _set_attributes(self, node, desired, actual, fields, ctx):
        attrs = self._attributes(desired, fields)
        if "Policy" not in attrs and actual.outputs.get("_policy"):
            # moto's SetQueueAttributes drops the queue policy when a call omits it (AWS keeps it):
            # send the policy the queue has now, a no-op on AWS, so one apply converges on both
            attrs["Policy"] = actual.outputs["_policy"]
        yield Call("sqs", "set_queue_attributes", {"QueueUrl": actual.outputs["url"], "Attributes": attrs},
                   "set " + ", ".join(sorted(attrs)))

    # --- delete / discover ---
    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.rsplit(":", 1)[-1], arn)

    def _url(self, name, ctx):
        """A queue's URL follows from endpoint, account and name (what GetQueueUrl would answer)."""
        return f"{ctx.client('sqs').meta.endpoint_url.rstrip('/')}/{ctx.account_id}/{name}"

    def delete(self, resource, ctx):
        yield Call("sqs", "delete_queue", {"QueueUrl": self._url(resource.physical_id, ctx)}, missing_ok=True)

    def has_data(self, resource, ctx):
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        found = self.get(ctx, "get_queue_attributes", QueueUrl=self._url(resource.physical_id, ctx),
                         AttributeNames=names) or {}
        attrs = found.get("Attributes", {})
        return any(int(attrs.get(n, 0)) for n in names)
