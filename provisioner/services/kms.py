"""KMS keys: found by alias alias/{physical name} (and, for a half-created key, by ownership tags)."""
from __future__ import annotations

import botocore.exceptions

from provisioner.aws.errors import is_not_found, unless_missing
from provisioner.errors import NotEmulated
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.services.base import (
    NOT_RETURNED,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    retag,
    service_key_statement,
    tags_from_list,
    tags_to_list,
)

WINDOW_TAG = "provisioner:deletion-window-days"
MIN_WINDOW = 7
PENDING_DELETION = ("PendingDeletion", "PendingReplicaDeletion")   # a destroyed key: not ours to touch


class KmsKeys(Reconciler):
    kind = "kms_keys"
    service = "kms"
    attributes = frozenset({"arn", "id", "alias", "alias_arn", "name"})
    name_rule = NameRule(r"[A-Za-z0-9/_-]+", 1, 250, "a KMS alias name (after alias/)",
                         "letters, digits, '/', '_' and '-'")
    write_only = frozenset({"deletion_window_days", "allow_services"})
    derived_fields = frozenset({"key_state", "alias"})
    tagging_type = "kms:key"
    rank = 10
    delete_tier = 0
    opt_outs = ((("rotation",), False, "the key material is never rotated (FSBP KMS.4)"),)

    def validate(self, node, spec):
        out = self.lint(node.props.get("policy"), ("policy",), spec, key_policy=True)
        if node.physical_name.startswith("aws/"):
            out.append((("name",), "alias names starting with aws/ are reserved by AWS", "error"))
        return out

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "alias": f"alias/{node.physical_name}",
                "alias_arn": ctx.aws.arn("kms", f"alias/{node.physical_name}")}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        tags = {**ctx.tags_for(node), WINDOW_TAG: str(props["deletion_window_days"])}
        policy = props.get("policy") or self.default_policy(node, ctx)
        return {
            "description": props["description"],
            "key_state": "Enabled",
            "rotation": props["rotation"],
            "rotation_period_days": props["rotation_period_days"] if props["rotation"] else None,
            "policy": None,
            "alias": f"alias/{node.physical_name}",
            "tags": tags,
            "deletion_window_days": props["deletion_window_days"],
            "_policy_document": policy,
        }

    def default_policy(self, node, ctx) -> dict:
        """Account root (so IAM policies can grant use) plus the services that use the key here."""
        account = ctx.account_id
        statements = [{
            "Sid": "AccountRootAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{ctx.aws.partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }]
        for service in node.props.get("allow_services", []):
            statements.append(service_key_statement(service, account))
        if ctx.spec is not None:
            for user in ctx.spec.dependents(node.address):
                statements.extend(ctx.registry[user.kind].kms_key_statements(user, ctx))
        unique = {}
        for statement in statements:
            unique.setdefault(statement["Sid"], statement)
        statements = list(unique.values())
        return {"Version": "2012-10-17", "Statement": statements}

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("kms")
        alias = f"alias/{node.physical_name}"
        try:
            meta = client.describe_key(KeyId=alias)["KeyMetadata"]
            has_alias = True
        except botocore.exceptions.ClientError as exc:
            if not is_not_found(exc, "NotFoundException"):
                raise
            meta = self._half_created(node, ctx)
            has_alias = False
            if meta is None:
                return None
        key_id = meta["KeyId"]
        tags = ctx.tags_of(meta["Arn"], lambda: tags_from_list(
            client.list_resource_tags(KeyId=key_id).get("Tags"), "TagKey", "TagValue"))
        facets = ctx.concurrently({
            "rotation": lambda: client.get_key_rotation_status(KeyId=key_id),
            "policy": lambda: client.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"],
        })
        rotation, policy = facets["rotation"], facets["policy"]
        enabled = rotation.get("KeyRotationEnabled", False)
        warnings = []
        if enabled and "RotationPeriodInDays" not in rotation:
            period = NOT_RETURNED
            warnings.append("rotation_period_days is not returned by this endpoint; it is set but not compared")
        else:
            period = rotation.get("RotationPeriodInDays") if enabled else None
        props = {
            "description": meta.get("Description", ""),
            "key_state": meta["KeyState"],
            "rotation": enabled,
            "rotation_period_days": period,
            "policy": canonical_policy(policy),
            "alias": alias if has_alias else None,
            "tags": tags,
        }
        outputs = {"arn": meta["Arn"], "id": key_id, "_physical_id": key_id, "name": node.physical_name,
                   "alias": alias,
                   "alias_arn": ctx.aws.arn("kms", alias)}
        return Observed(props, outputs, tags, warnings)

    def _half_created(self, node, ctx):
        """A key tagged as this resource but without its alias (an apply stopped after CreateKey)."""
        for owned in self.discover(ctx):
            if owned.address == node.address:
                return ctx.client("kms").describe_key(KeyId=owned.physical_id)["KeyMetadata"]
        return None

    # --- write ---
    def create(self, node, desired, ctx):
        client = ctx.client("kms")
        meta = client.create_key(
            Description=desired["description"], KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
            Policy=policy_json(desired["_policy_document"]),
            Tags=tags_to_list(desired["tags"], "TagKey", "TagValue"))["KeyMetadata"]
        key_id = meta["KeyId"]
        if desired["rotation"]:
            self._enable_rotation(client, key_id, desired["rotation_period_days"], ctx)
        client.create_alias(AliasName=desired["alias"], TargetKeyId=key_id)
        return {"arn": meta["Arn"], "id": key_id}

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("kms")
        key_id = actual.outputs["id"]
        fields = {d.field for d in diffs}
        if "key_state" in fields:
            if actual.props["key_state"] == "PendingDeletion":
                client.cancel_key_deletion(KeyId=key_id)
            client.enable_key(KeyId=key_id)
        if "description" in fields:
            client.update_key_description(KeyId=key_id, Description=desired["description"])
        if "policy" in fields:
            client.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy_json(desired["_policy_document"]))
        if fields & {"rotation", "rotation_period_days"}:
            if desired["rotation"]:
                self._enable_rotation(client, key_id, desired["rotation_period_days"], ctx)
            else:
                client.disable_key_rotation(KeyId=key_id)
        if "alias" in fields:
            client.create_alias(AliasName=desired["alias"], TargetKeyId=key_id)
        if "tags" in fields:
            retag(desired["tags"], actual.props["tags"], lambda keys: client.untag_resource(KeyId=key_id, TagKeys=keys),
                  lambda tags: client.tag_resource(KeyId=key_id, Tags=tags_to_list(tags, "TagKey", "TagValue")))
        return {}

    def _enable_rotation(self, client, key_id, period, ctx):
        try:
            client.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=period)
        except NotEmulated:
            ctx.warn("kms: RotationPeriodInDays not emulated by this endpoint")
            client.enable_key_rotation(KeyId=key_id)

    # --- delete / discover ---
    def delete(self, resource: OwnedResource, ctx):
        client = ctx.client("kms")
        key_id = resource.physical_id
        try:
            found = ctx.concurrently({
                "key": lambda: client.describe_key(KeyId=key_id)["KeyMetadata"],
                "tags": lambda: client.list_resource_tags(KeyId=key_id).get("Tags"),
                "aliases": lambda: client.list_aliases(KeyId=key_id).get("Aliases", []),
            })
        except botocore.exceptions.ClientError as exc:
            if is_not_found(exc, "NotFoundException"):
                return
            raise
        if found["key"]["KeyState"] in PENDING_DELETION:
            return
        window = max(MIN_WINDOW, int(tags_from_list(found["tags"], "TagKey", "TagValue").get(WINDOW_TAG, MIN_WINDOW)))
        ctx.concurrently({
            **{alias["AliasName"]: lambda alias=alias: unless_missing(
                client.delete_alias, "NotFoundException", AliasName=alias["AliasName"])
               for alias in found["aliases"]},
            "schedule": lambda: client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=window),
        })

    def discover(self, ctx):
        """Keys tagged as ours, except those already scheduled for deletion (a destroyed key)."""
        client = ctx.client("kms")
        tagged = dict(ctx.tagged_resources(self.matches_arn))
        described = ctx.concurrently({arn: lambda arn=arn: unless_missing(
            client.describe_key, "NotFoundException", KeyId=arn.rsplit("/", 1)[-1]) for arn in tagged})
        return [OwnedResource.from_tags(self.kind, tags, arn.rsplit("/", 1)[-1], arn)
                for arn, tags in tagged.items()
                if described[arn] and described[arn]["KeyMetadata"]["KeyState"] not in PENDING_DELETION]
