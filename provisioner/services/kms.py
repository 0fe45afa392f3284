"""KMS keys: found by alias alias/{physical name} (and, for a half-created key, by ownership tags)."""
from __future__ import annotations

from provisioner.engine.operations import Call, Together
from provisioner.errors import NotEmulated
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.services.base import NOT_RETURNED, NameRule, Observed, OwnedResource, Reconciler
from provisioner.services.delivery import service_key_statement
from provisioner.services.tagging import TagApi

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
    missing = ("NotFoundException",)
    tag_api = TagApi("kms", "KeyId", "id", list="list_resource_tags", key="TagKey", value="TagValue")
    updates = ((frozenset({"key_state"}), "_enable"),
               (frozenset({"description"}), "_set_description"),
               (frozenset({"policy"}), "_put_policy"),
               (frozenset({"rotation", "rotation_period_days"}), "_set_rotation"),
               (frozenset({"alias"}), "_create_alias"))

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
        policy = props.get("policy") or self.default_policy(node, ctx)
        return {
            "description": props["description"],
            "key_state": "Enabled",
            "rotation": props["rotation"],
            "rotation_period_days": props["rotation_period_days"] if props["rotation"] else None,
            "policy": None,
            "alias": f"alias/{node.physical_name}",
            "deletion_window_days": props["deletion_window_days"],
            "_policy_document": policy,
        }

    def desired_tags(self, node, ctx):
        return {**super().desired_tags(node, ctx), WINDOW_TAG: str(node.props["deletion_window_days"])}

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
        found = self.get(ctx, "describe_key", KeyId=alias)
        has_alias = found is not None
        meta = found["KeyMetadata"] if has_alias else self._half_created(node, ctx)
        if meta is None:
            return None
        key_id = meta["KeyId"]
        tags = self.read_tags(ctx, meta["Arn"], key_id)
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
        meta = (yield Call("kms", "create_key", {
            "Description": desired["description"], "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
            "Policy": policy_json(desired["_policy_document"]),
            "Tags": self.tag_api.format(desired["tags"])}))["KeyMetadata"]
        key_id = meta["KeyId"]
        if desired["rotation"]:
            yield from self._enable_rotation(key_id, desired["rotation_period_days"], ctx)
        yield Call("kms", "create_alias", {"AliasName": desired["alias"], "TargetKeyId": key_id})
        return {"arn": meta["Arn"], "id": key_id}

    def _enable(self, node, desired, actual, fields, ctx):
        key_id = actual.outputs["id"]
        if actual.props["key_state"] == "PendingDeletion":
            yield Call("kms", "cancel_key_deletion", {"KeyId": key_id})
        yield Call("kms", "enable_key", {"KeyId": key_id})

    def _set_description(self, node, desired, actual, fields, ctx):
        yield Call("kms", "update_key_description", {"KeyId": actual.outputs["id"],
                                                     "Description": desired["description"]})

    def _put_policy(self, node, desired, actual, fields, ctx):
        yield Call("kms", "put_key_policy", {"KeyId": actual.outputs["id"], "PolicyName": "default",
                                             "Policy": policy_json(desired["_policy_document"])})

    def _set_rotation(self, node, desired, actual, fields, ctx):
        if desired["rotation"]:
            yield from self._enable_rotation(actual.outputs["id"], desired["rotation_period_days"], ctx)
        else:
            yield Call("kms", "disable_key_rotation", {"KeyId": actual.outputs["id"]})

    def _create_alias(self, node, desired, actual, fields, ctx):
        yield Call("kms", "create_alias", {"AliasName": desired["alias"], "TargetKeyId": actual.outputs["id"]})

    def _enable_rotation(self, key_id, period, ctx):
        try:
            yield Call("kms", "enable_key_rotation", {"KeyId": key_id, "RotationPeriodInDays": period})
        except NotEmulated:
            ctx.warn("kms: RotationPeriodInDays not emulated by this endpoint")
            yield Call("kms", "enable_key_rotation", {"KeyId": key_id})

    # --- delete / discover ---
    def delete(self, resource: OwnedResource, ctx):
        key_id = resource.physical_id
        found = ctx.concurrently({
            "key": lambda: self.get(ctx, "describe_key", KeyId=key_id),
            "tags": lambda: self.get(ctx, "list_resource_tags", KeyId=key_id),
            "aliases": lambda: self.get(ctx, "list_aliases", KeyId=key_id),
        })
        if None in found.values() or found["key"]["KeyMetadata"]["KeyState"] in PENDING_DELETION:
            return
        window = max(MIN_WINDOW, int(self.tag_api.parse(found["tags"]).get(WINDOW_TAG, MIN_WINDOW)))
        yield Together(tuple(Call("kms", "delete_alias", {"AliasName": alias["AliasName"]}, missing_ok=True)
                             for alias in found["aliases"].get("Aliases", [])) +
                       (Call("kms", "schedule_key_deletion", {"KeyId": key_id, "PendingWindowInDays": window}),))

    def discover(self, ctx):
        """Keys tagged as ours, except those already scheduled for deletion (a destroyed key)."""
        def live_id(arn):
            found = self.get(ctx, "describe_key", KeyId=arn.rsplit("/", 1)[-1])
            meta = found and found["KeyMetadata"]
            return meta["KeyId"] if meta and meta["KeyState"] not in PENDING_DELETION else None
        return self.tagged_and_live(ctx, live_id)
