"""SNS topics and their subscriptions (keyed by protocol:endpoint)."""
from __future__ import annotations

import json

from provisioner.engine.operations import Call
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler, fifo_physical_name
from provisioner.services.delivery import Delivery, logical_sid, managed_key_refusal, service_sid
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref, Template

AWS_MANAGED_KEY = "alias/aws/sns"
RAW_PROTOCOLS = {"sqs", "http", "https", "firehose"}
PENDING = ("PendingConfirmation", "pending confirmation")
ATTRIBUTE_NAMES = {"display_name": "DisplayName", "kms_key": "KmsMasterKeyId",
                   "content_based_deduplication": "ContentBasedDeduplication"}


def _subscription_key(protocol: str, endpoint) -> str:
    return f"{protocol}:{endpoint}"


class SnsTopics(Reconciler):
    kind = "sns_topics"
    service = "sns"
    name_rule = NameRule(r"[A-Za-z0-9_-]+(\.fifo)?", 1, 256, "an SNS topic name",
                         "letters, digits, '_' and '-', optionally ending in .fifo")
    immutable = frozenset({"fifo"})
    tagging_type = "sns"
    rank = 30
    opt_outs = ((("encryption",), "none", "messages are stored unencrypted (FSBP SNS.1)"),)
    missing = ("NotFound", "NotFoundException")
    tag_api = TagApi("sns", "ResourceArn")
    updates = ((frozenset(ATTRIBUTE_NAMES), "_set_attributes"), (frozenset({"policy"}), "_set_policy"),
               (frozenset({"subscriptions"}), "_update_subscriptions"))

    def physical_name(self, node):
        return fifo_physical_name(node)

    def validate(self, node, spec):
        props, out = node.props, []
        services = sorted({d.service for d in spec.deliveries_to(node.address)})
        if props["encryption"] == "none" and "kms_key" in props:
            out.append((("kms_key",), "a kms_key needs encryption: kms", "error"))
        elif props["encryption"] == "kms" and "kms_key" not in props and services:
            out.append(((), managed_key_refusal(f"{', '.join(services)} publish here, and", AWS_MANAGED_KEY),
                        "error"))
        if props["content_based_deduplication"] and not props["fifo"]:
            out.append((("content_based_deduplication",), "content-based deduplication needs fifo: true", "error"))
        seen = {}
        for index, sub in enumerate(props["subscriptions"]):
            protocol, endpoint = self._target(sub)
            if sub.get("raw_message_delivery") and protocol not in RAW_PROTOCOLS:
                out.append((("subscriptions", index, "raw_message_delivery"),
                            f"raw message delivery is not available for {protocol} subscriptions", "error"))
            queue_ref = sub.get("sqs_queue")
            if isinstance(queue_ref, Ref) and queue_ref.address in spec.nodes:
                if props["fifo"] and not spec.nodes[queue_ref.address].props["fifo"]:
                    out.append((("subscriptions", index, "sqs_queue"),
                                "a FIFO topic can only deliver to FIFO queues", "error"))
            key = _subscription_key(protocol, endpoint)
            if key in seen:
                out.append((("subscriptions", index), f"same subscription as subscriptions[{seen[key]}]", "error"))
            seen[key] = index
        return out

    def deliveries(self, node, spec):
        return [Delivery(target.address, "sns.amazonaws.com", node.address, Ref(node.address, "arn"))
                for sub in node.props["subscriptions"]
                for target in (sub.get("sqs_queue"), sub.get("function")) if isinstance(target, Ref)]

    def _target(self, sub):
        if "sqs_queue" in sub:
            return "sqs", sub["sqs_queue"]
        if "function" in sub:
            return "lambda", sub["function"]
        if "email" in sub:
            return "email", sub["email"]
        return sub["protocol"], sub["endpoint"]

    def arn(self, name, ctx):
        return ctx.aws.arn("sns", name)

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        subscriptions = []
        for sub in props["subscriptions"]:
            protocol, endpoint = self._target(sub)
            subscriptions.append({
                "protocol": protocol, "endpoint": endpoint,
                "raw_message_delivery": sub["raw_message_delivery"] if protocol in RAW_PROTOCOLS else None,
                "filter_policy": sub.get("filter_policy"),
            })
        return {
            "fifo": props["fifo"],
            "content_based_deduplication": props["content_based_deduplication"] if props["fifo"] else None,
            "display_name": props["display_name"],
            "kms_key": None if props["encryption"] == "none" else props.get("kms_key") or AWS_MANAGED_KEY,
            "subscriptions": {},
            "_subscriptions": subscriptions,
            **self._delivery_policy(node, ctx),
        }

    def _delivery_policy(self, node, ctx) -> dict:
        """The topic policy is managed only when services of the spec publish to the topic."""
        statements = [{
            "Sid": f"Allow{service_sid(d.service)}{logical_sid(d.source)}", "Effect": "Allow",
            "Principal": {"Service": d.service}, "Action": "sns:Publish", "Resource": Ref(node.address, "arn"),
            "Condition": d.condition(ctx.account_id)} for d in ctx.deliveries_to(node.address)]
        if not statements:
            return {}
        return {"policy": None, "_policy_document": {"Version": "2012-10-17", "Statement": statements}}

    def normalize(self, desired):
        desired = super().normalize(desired)
        subscriptions = {}
        for sub in desired["_subscriptions"]:
            endpoint = sub["endpoint"]
            if isinstance(endpoint, (Ref, Template)):
                endpoint = str(endpoint)
            subscriptions[_subscription_key(sub["protocol"], endpoint)] = {
                "raw_message_delivery": sub["raw_message_delivery"], "filter_policy": sub["filter_policy"]}
        return {**desired, "subscriptions": subscriptions}

    # --- read ---
    def read(self, node, ctx):
        arn = self.arn(node.physical_name, ctx)
        found = self.get(ctx, "get_topic_attributes", TopicArn=arn)
        if found is None:
            return None
        attrs = found["Attributes"]
        tags = self.read_tags(ctx, arn)
        fifo = attrs.get("FifoTopic") == "true"
        subscriptions = self._subscriptions(ctx.client("sns"), arn)
        props = {
            "fifo": fifo,
            "content_based_deduplication": attrs.get("ContentBasedDeduplication") == "true" if fifo else None,
            "display_name": attrs.get("DisplayName", ""),
            "policy": canonical_policy(attrs.get("Policy")),
            "kms_key": attrs.get("KmsMasterKeyId") or None,
            "subscriptions": {key: {k: v for k, v in sub.items() if k != "arn"}
                              for key, sub in subscriptions.items()},
            "tags": tags,
        }
        outputs = {"arn": arn, "name": node.physical_name, "_physical_id": arn,
                   "_subscription_arns": {k: s["arn"] for k, s in subscriptions.items()}}
        return Observed(props, outputs, tags)

    def _subscriptions(self, client, topic_arn) -> dict:
        found = {}
        for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                protocol, endpoint, sub_arn = sub["Protocol"], sub["Endpoint"], sub["SubscriptionArn"]
                raw, filter_policy = (False if protocol in RAW_PROTOCOLS else None), None
                if sub_arn not in PENDING:
                    attrs = client.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
                    if protocol in RAW_PROTOCOLS:
                        raw = attrs.get("RawMessageDelivery") == "true"
                    if attrs.get("FilterPolicy"):
                        filter_policy = json.loads(attrs["FilterPolicy"])
                found[_subscription_key(protocol, endpoint)] = {
                    "raw_message_delivery": raw, "filter_policy": filter_policy, "arn": sub_arn}
        return found

    # --- write ---
    def _topic_attributes(self, desired) -> dict:
        attrs = {"DisplayName": desired["display_name"]}
        if desired["kms_key"]:
            attrs["KmsMasterKeyId"] = desired["kms_key"]
        if desired.get("_policy_document"):
            attrs["Policy"] = policy_json(desired["_policy_document"])
        if desired["fifo"]:
            attrs["FifoTopic"] = "true"
            attrs["ContentBasedDeduplication"] = str(desired["content_based_deduplication"]).lower()
        return attrs

    def _subscribe(self, topic_arn, sub) -> Call:
        attributes = {}
        if sub["raw_message_delivery"]:
            attributes["RawMessageDelivery"] = "true"
        if sub["filter_policy"]:
            attributes["FilterPolicy"] = json.dumps(sub["filter_policy"], sort_keys=True)
        return Call("sns", "subscribe", {"TopicArn": topic_arn, "Protocol": sub["protocol"],
                                         "Endpoint": sub["endpoint"], "Attributes": attributes,
                                         "ReturnSubscriptionArn": True})

    def create(self, node, desired, ctx):
        arn = (yield Call("sns", "create_topic", {"Name": node.physical_name,
                                                  "Attributes": self._topic_attributes(desired),
                                                  "Tags": self.tag_api.format(desired["tags"])}))["TopicArn"]
        for sub in desired["_subscriptions"]:
            yield self._subscribe(arn, sub)
        return {"arn": arn}

    def _set_attributes(self, node, desired, actual, fields, ctx):
        for field, name in ATTRIBUTE_NAMES.items():
            if field in fields:
                value = desired[field]
                value = "" if value is None else str(value).lower() if isinstance(value, bool) else value
                yield self._set_attribute(actual, name, value)

    def _set_policy(self, node, desired, actual, fields, ctx):
        yield self._set_attribute(actual, "Policy", policy_json(desired["_policy_document"]))

    def _set_attribute(self, actual, name, value) -> Call:
        return Call("sns", "set_topic_attributes",
                    {"TopicArn": actual.outputs["arn"], "AttributeName": name, "AttributeValue": value})

    def _update_subscriptions(self, node, desired, actual, fields, ctx):
        topic_arn = actual.outputs["arn"]
        have = actual.props["subscriptions"]
        arns = actual.outputs.get("_subscription_arns", {})
        wanted = {_subscription_key(s["protocol"], s["endpoint"]): s for s in desired["_subscriptions"]}
        for key, sub in wanted.items():
            if key not in have:
                yield self._subscribe(topic_arn, sub)
            elif have[key] != desired["subscriptions"][key]:
                sub_arn = arns.get(key)
                if sub_arn in PENDING or sub_arn is None:
                    ctx.warn(f"{node.address}: subscription {key} is pending confirmation; its attributes "
                             "can be changed once it is confirmed")
                    continue
                if have[key]["raw_message_delivery"] != sub["raw_message_delivery"]:
                    yield self._set_subscription_attribute(sub_arn, "RawMessageDelivery",
                                                           str(bool(sub["raw_message_delivery"])).lower())
                if have[key]["filter_policy"] != sub["filter_policy"]:
                    yield self._set_subscription_attribute(sub_arn, "FilterPolicy",
                                                           json.dumps(sub["filter_policy"] or {}, sort_keys=True))
        for key in have:
            if key not in wanted:
                sub_arn = arns.get(key)
                if sub_arn in PENDING or sub_arn is None:
                    ctx.warn(f"{node.address}: subscription {key} is pending confirmation and cannot be removed "
                             "until it is confirmed or expires (3 days)")
                    continue
                yield Call("sns", "unsubscribe", {"SubscriptionArn": sub_arn}, f"remove {key}")

    def _set_subscription_attribute(self, sub_arn, name, value) -> Call:
        return Call("sns", "set_subscription_attributes",
                    {"SubscriptionArn": sub_arn, "AttributeName": name, "AttributeValue": value})

    # --- delete / discover ---
    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn, arn)

    def delete(self, resource, ctx):
        yield Call("sns", "delete_topic", {"TopicArn": resource.arn}, missing_ok=True)
