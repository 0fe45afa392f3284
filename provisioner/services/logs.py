"""CloudWatch Logs log groups: retention, KMS key, class, tags."""
from __future__ import annotations

from provisioner.aws.errors import unless_missing
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler, retag

NOT_FOUND = ("ResourceNotFoundException",)
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)


class LogGroups(Reconciler):
    kind = "log_groups"
    service = "logs"
    attributes = frozenset({"arn", "name"})
    name_rule = NameRule(r"[A-Za-z0-9_./#-]+", 1, 512, "a log group name",
                         "letters, digits and _ . / # -")
    immutable = frozenset({"log_class"})
    tagging_type = "logs"   # the emulator finds nothing for "logs:log-group"; "logs" works on both
    rank = 15

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

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "arn": self.arn(node.physical_name, ctx)}

    def arn(self, name, ctx):
        return ctx.aws.arn("logs", f"log-group:{name}")

    def desired(self, node, ctx):
        props = node.props
        return {
            "retention_days": props["retention_days"],
            "kms_key": props.get("kms_key"),
            "log_class": props["log_class"],
            "tags": ctx.tags_for(node),
        }

    def read(self, node, ctx):
        client = ctx.client("logs")
        name = node.physical_name
        prefix = self._listing_prefix(name, ctx)
        group = ctx.memo(f"log_groups:{prefix}", lambda: self._groups_under(client, prefix)).get(name)
        if group is None:
            return None
        arn = self.arn(name, ctx)
        tags = ctx.tags_of(arn, lambda: {k: v for k, v in client.list_tags_for_resource(resourceArn=arn)
                                         .get("tags", {}).items() if not k.startswith("aws:")})
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
        client = ctx.client("logs")
        name = node.physical_name
        request = {"logGroupName": name, "tags": desired["tags"], "logGroupClass": desired["log_class"]}
        if desired["kms_key"]:
            request["kmsKeyId"] = desired["kms_key"]
        client.create_log_group(**request)
        if desired["retention_days"]:
            client.put_retention_policy(logGroupName=name, retentionInDays=desired["retention_days"])
        return {"arn": self.arn(name, ctx)}

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("logs")
        name = node.physical_name
        fields = {d.field for d in diffs}
        if "retention_days" in fields:
            if desired["retention_days"]:
                client.put_retention_policy(logGroupName=name, retentionInDays=desired["retention_days"])
            else:
                client.delete_retention_policy(logGroupName=name)
        if "kms_key" in fields:
            if desired["kms_key"]:
                client.associate_kms_key(logGroupName=name, kmsKeyId=desired["kms_key"])
            else:
                client.disassociate_kms_key(logGroupName=name)
        if "tags" in fields:
            arn = actual.outputs["arn"]
            retag(desired["tags"], actual.props["tags"],
                  lambda keys: client.untag_resource(resourceArn=arn, tagKeys=keys),
                  lambda tags: client.tag_resource(resourceArn=arn, tags=tags))
        return {}

    def owned_from_arn(self, arn, tags):
        name = arn.split(":log-group:", 1)[1].removesuffix(":*")
        return OwnedResource.from_tags(self.kind, tags, name, arn.removesuffix(":*"))

    def delete(self, resource, ctx):
        unless_missing(ctx.client("logs").delete_log_group, *NOT_FOUND, logGroupName=resource.physical_id)
