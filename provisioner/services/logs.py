"""CloudWatch Logs log groups: retention, KMS key, class, tags."""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler
from provisioner.services.tagging import TagApi

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)


class LogGroups(Reconciler):
    kind = "log_groups"
    service = "logs"
    name_rule = NameRule(r"[A-Za-z0-9_./#-]+", 1, 512, "a log group name",
                         "letters, digits and _ . / # -")
    immutable = frozenset({"log_class"})
    tagging_type = "logs"   # the emulator finds nothing for "logs:log-group"; "logs" works on both
    rank = 15
    missing = ("ResourceNotFoundException",)
    tag_api = TagApi("logs", "resourceArn", tags_param="tags", keys_param="tagKeys", as_map=True, listed="tags")
    updates = ((frozenset({"retention_days"}), "_set_retention"), (frozenset({"kms_key"}), "_set_kms_key"))

    def matches_arn(self, arn):
        return arn.split(":", 6)[2:3] == ["logs"] and ":log-group:" in arn

    def kms_key_statements(self, node, ctx):
        """CloudWatch Logs encrypts with the key itself, scoped to this account's log groups."""
        return [{
            "Sid": "AllowCloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                       "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                      ctx.aws.arn("logs", "log-group:*")}},
        }]

    def arn(self, name, ctx):
        return ctx.aws.arn("logs", f"log-group:{name}")

    def desired(self, node, ctx):
        props = node.props
        return {
            "retention_days": props["retention_days"],
            "kms_key": props.get("kms_key"),
            "log_class": props["log_class"],
        }

    def read(self, node, ctx):
        name = node.physical_name
        prefix = self._listing_prefix(name, ctx)
        group = ctx.memo(f"log_groups:{prefix}", lambda: self._groups_under(ctx.client("logs"), prefix)).get(name)
        if group is None:
            return None
        arn = self.arn(name, ctx)
        tags = self.read_tags(ctx, arn)
        props = {
            "retention_days": group.get("retentionInDays"),
            "kms_key": group.get("kmsKeyId") or None,
            "log_class": group.get("logGroupClass", "STANDARD"),
            "tags": tags,
        }
        return Observed(props, {"arn": arn, "name": name}, tags)

    @staticmethod
    def _listing_prefix(name, ctx) -> str:
        """The name up to and including the environment's name prefix ("/aws/lambda/shop-dev-worker" ->
        "/aws/lambda/shop-dev-"): the log groups of one environment share a few such prefixes. A name
        without it is its own prefix."""
        environment = f"{ctx.owner.project}-{ctx.owner.environment}-"
        at = name.find(environment)
        return name if at < 0 else name[:at + len(environment)]

    @staticmethod
    def _groups_under(client, prefix) -> dict:
        """{name: group} of every log group whose name starts with prefix: one paginated listing per
        prefix and run instead of one DescribeLogGroups per log group."""
        pages = client.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=prefix, PaginationConfig={"PageSize": 50})   # 50: the most the API allows
        return {group["logGroupName"]: group for page in pages for group in page.get("logGroups", [])}

    def create(self, node, desired, ctx):
        name = node.physical_name
        request = {"logGroupName": name, "tags": self.tag_api.format(desired["tags"]),
                   "logGroupClass": desired["log_class"]}
        if desired["kms_key"]:
            request["kmsKeyId"] = desired["kms_key"]
        yield Call("logs", "create_log_group", request)
        if desired["retention_days"]:
            yield from self._set_retention(node, desired, None, {"retention_days"}, ctx)
        return {"arn": self.arn(name, ctx)}

    def _set_retention(self, node, desired, actual, fields, ctx):
        name = node.physical_name
        if desired["retention_days"]:
            yield Call("logs", "put_retention_policy",
                       {"logGroupName": name, "retentionInDays": desired["retention_days"]})
        else:
            yield Call("logs", "delete_retention_policy", {"logGroupName": name}, "keep events forever")

    def _set_kms_key(self, node, desired, actual, fields, ctx):
        name = node.physical_name
        if desired["kms_key"]:
            yield Call("logs", "associate_kms_key", {"logGroupName": name, "kmsKeyId": desired["kms_key"]})
        else:
            yield Call("logs", "disassociate_kms_key", {"logGroupName": name})

    def owned_from_arn(self, arn, tags):
        name = arn.split(":log-group:", 1)[1].removesuffix(":*")
        return OwnedResource.from_tags(self.kind, tags, name, arn.removesuffix(":*"))

    def delete(self, resource, ctx):
        yield Call("logs", "delete_log_group", {"logGroupName": resource.physical_id}, missing_ok=True)
