"""Secrets Manager secrets: description, KMS key, tags; the value is write-only.

The value never appears in the spec. `generate` makes one with GetRandomPassword when the secret is
created; without it the secret is created empty and its value is put there by other means. The value
is never read back, compared or printed, so a value rotated or put by hand is not drift.

Deletion works as Terraform's recovery_window_in_days: a destroyed or pruned secret is scheduled for
deletion after `recovery_window_days` (AWS's default 30), 0 deletes it at once without recovery. The
window is kept in a tag, so `destroy --project P --environment E` honours it without the spec; a
secret without the tag gets the default 30 days. A secret of ours found scheduled for deletion on
apply (a destroy followed by an apply within the window) is restored with its value, not recreated
(Terraform would fail on the name instead). Pruning a secret that holds a value needs
--allow-data-loss, as for a table or bucket with data: after the window the value is gone for good.
An empty secret is pruned freely.

Secret ARNs end in a random suffix, so a grant names `arn:...:secret:NAME-??????`, AWS's documented
pattern for one secret: a role need not wait for the secret to exist.
"""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler
from provisioner.services.tagging import TagApi

WINDOW_TAG = "provisioner:recovery-window-days"
DEFAULT_WINDOW = 30
MIN_WINDOW = 7
AWS_MANAGED_KEY = "alias/aws/secretsmanager"   # UpdateSecret's way back to the default key


def grant_arn(name: str, ctx) -> str:
    """The secret's ARN pattern: its name plus the six random characters AWS appends."""
    return ctx.aws.arn("secretsmanager", f"secret:{name}-??????")


class Secrets(Reconciler):
    kind = "secrets"
    service = "secretsmanager"
    name_rule = NameRule(r"[A-Za-z0-9/_+=.@-]+", 1, 512, "a Secrets Manager secret name",
                         "letters, digits and / _ + = . @ -")
    write_only = frozenset({"generate", "recovery_window_days"})
    derived_fields = frozenset({"deletion_date"})
    tagging_type = "secretsmanager:secret"
    rank = 11
    data_bearing = True
    missing = ("ResourceNotFoundException",)
    tag_api = TagApi("secretsmanager", "SecretId", "arn")   # read from DescribeSecret, which answers them
    # a secret scheduled for deletion refuses every other change: restored first
    updates = ((frozenset({"deletion_date"}), "_restore"),
               (frozenset({"description", "kms_key"}), "_update_secret"))

    def matches_arn(self, arn):
        parts = arn.split(":", 6)
        return len(parts) == 7 and parts[2] == "secretsmanager" and parts[5] == "secret"

    def predicted_outputs(self, node, ctx):
        # no "arn": it is known once the secret exists; grants use the pattern instead
        return {"name": node.physical_name, "_grant_arn": grant_arn(node.physical_name, ctx)}

    # --- desired / read ---
    def desired(self, node, ctx):
        props = node.props
        return {
            "description": props["description"],
            "kms_key": props.get("kms_key"),
            "deletion_date": None,
            "generate": props.get("generate"),
            "recovery_window_days": props["recovery_window_days"],
        }

    def desired_tags(self, node, ctx):
        return {**super().desired_tags(node, ctx), WINDOW_TAG: str(node.props["recovery_window_days"])}

    def _describe(self, secret_id, ctx):
        return self.get(ctx, "describe_secret", SecretId=secret_id)

    def read(self, node, ctx):
        meta = self._describe(node.physical_name, ctx)
        if meta is None:
            return None
        tags = self.tag_api.parse(meta)
        deleted = meta.get("DeletedDate")
        props = {
            "description": meta.get("Description") or "",
            "kms_key": meta.get("KmsKeyId") or None,   # omitted for the AWS managed key
            "deletion_date": deleted.isoformat() if deleted else None,
            "tags": tags,
        }
        return Observed(props, {"arn": meta["ARN"], "name": meta["Name"]}, tags)

    # --- write ---
    def create(self, node, desired, ctx):
        request = {"Name": node.physical_name, "Tags": self.tag_api.format(desired["tags"])}
        if desired["description"]:
            request["Description"] = desired["description"]
        if desired["kms_key"]:
            request["KmsKeyId"] = desired["kms_key"]
        generate = desired["generate"]
        if generate:
            options = {"PasswordLength": generate["length"],
                       "ExcludePunctuation": generate["exclude_punctuation"]}
            if generate["exclude_characters"]:
                options["ExcludeCharacters"] = generate["exclude_characters"]
            request["SecretString"] = (yield Call("secretsmanager", "get_random_password", options,
                                                  "generate the value"))["RandomPassword"]
        arn = (yield Call("secretsmanager", "create_secret", request))["ARN"]
        return {"arn": arn, "name": node.physical_name}

    def _restore(self, node, desired, actual, fields, ctx):
        yield Call("secretsmanager", "restore_secret", {"SecretId": actual.outputs["arn"]}, "cancel the deletion")

    def _update_secret(self, node, desired, actual, fields, ctx):
        changes = {}
        if "description" in fields:
            changes["Description"] = desired["description"]
        if "kms_key" in fields:
            changes["KmsKeyId"] = desired["kms_key"] or AWS_MANAGED_KEY
        yield Call("secretsmanager", "update_secret", {"SecretId": actual.outputs["arn"], **changes},
                   "set " + ", ".join(sorted(changes)))

    # --- delete / discover ---
    def delete(self, resource: OwnedResource, ctx):
        secret_id = resource.arn or resource.physical_id
        meta = self._describe(secret_id, ctx)
        if meta is None or meta.get("DeletedDate"):
            return
        tagged = self.tag_api.parse(meta).get(WINDOW_TAG, "")
        days = int(tagged) if tagged.isdigit() else DEFAULT_WINDOW
        recovery = {"ForceDeleteWithoutRecovery": True} if days == 0 else {
            "RecoveryWindowInDays": min(max(days, MIN_WINDOW), DEFAULT_WINDOW)}
        yield Call("secretsmanager", "delete_secret", {"SecretId": secret_id, **recovery}, missing_ok=True)

    def has_data(self, resource, ctx):
        """Whether the secret holds a value (any version): only then does deleting it lose something."""
        meta = self._describe(resource.arn or resource.physical_id, ctx)
        return bool(meta and meta.get("VersionIdsToStages"))

    def discover(self, ctx):
        """Secrets tagged as ours, except those already scheduled for deletion (a destroyed secret)."""
        def live_name(arn):
            meta = self._describe(arn, ctx)
            return meta["Name"] if meta and not meta.get("DeletedDate") else None
        return self.tagged_and_live(ctx, live_name)
