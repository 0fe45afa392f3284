"""The Reconciler interface: the only place that knows a service's API."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from provisioner.spec.refs import Ref

NOT_RETURNED = type("NotReturned", (), {"__repr__": lambda self: "(not returned by endpoint)"})()
"""Value of a field the endpoint accepted but does not report back: never compared, always warned."""


@dataclass(frozen=True)
class NameRule:
    pattern: str          # regex the whole physical name must match
    min_length: int
    max_length: int
    description: str      # "an SQS queue name"
    allowed: str          # the character rule in words

    def check(self, name: str) -> str | None:
        if not (self.min_length <= len(name) <= self.max_length):
            return (f"physical name '{name}' is {len(name)} characters; "
                    f"{self.description} must be {self.min_length}-{self.max_length} characters")
        if not re.fullmatch(self.pattern, name):
            return f"physical name '{name}' is invalid: {self.description} may only contain {self.allowed}"
        return None


@dataclass
class Observed:
    """What read() found: normalised properties (same shape as desired), outputs, tags as found."""

    props: dict
    outputs: dict
    tags: dict
    warnings: list = field(default_factory=list)


@dataclass(frozen=True)
class OwnedResource:
    """A resource found in AWS that carries this project's and environment's ownership tags."""

    kind: str
    address: str          # value of the provisioner:resource tag
    physical_id: str      # name, url or key id: what delete() needs
    arn: str


class Reconciler:
    kind: str = ""                       # spec section it owns, e.g. "sqs_queues"
    service: str = ""                    # boto3 client name
    attributes: frozenset = frozenset()  # attributes a ${kind.name.attr} reference may use
    name_rule: NameRule | None = None
    immutable: frozenset = frozenset()   # fields whose change needs a replacement
    write_only: frozenset = frozenset()  # desired fields that AWS does not report (not compared)
    tagging_type: str | None = None      # Resource Groups Tagging API type, when it covers the kind
    rank: int = 50                       # creation order of kinds; deletes run in reverse
    data_bearing: bool = False           # pruning needs --allow-data-loss when it holds data

    # --- spec time (no AWS calls) ---
    def physical_name(self, node) -> str:
        return node.default_physical_name

    def validate(self, node, spec) -> list:
        """Semantic checks beyond the schema: list of (path relative to node, message, severity)."""
        return []

    def kms_service_principals(self, node, spec) -> set:
        """AWS services that must use this node's KMS key on its behalf (for generated key policies)."""
        return set()

    # --- AWS time ---
    def predicted_outputs(self, node, ctx) -> dict:
        """Outputs computable before the resource exists (ARNs built from names)."""
        return {"name": node.physical_name}

    def desired(self, node, ctx) -> dict:
        raise NotImplementedError

    def normalize(self, desired: dict) -> dict:
        """Canonicalise desired after its references are resolved (e.g. policies), in read()'s shape."""
        if "_policy_document" in desired:
            from provisioner.policy import canonical_policy
            desired = {**desired, "policy": canonical_policy(desired["_policy_document"])}
        return desired

    def read(self, node, ctx) -> Observed | None:
        raise NotImplementedError

    def create(self, node, desired, ctx) -> dict:
        raise NotImplementedError

    def update(self, node, desired, actual: Observed, diffs, ctx) -> dict:
        raise NotImplementedError

    def delete(self, resource: OwnedResource, ctx) -> None:
        raise NotImplementedError

    def has_data(self, resource: OwnedResource, ctx) -> bool:
        return False

    def discover(self, ctx) -> list[OwnedResource]:
        """Owned resources of this kind; default: from the Resource Groups Tagging API pass."""
        return [self.owned_from_arn(arn, tags) for arn, tags in ctx.tagged_resources(self.tagging_type)]

    def owned_from_arn(self, arn: str, tags: dict) -> OwnedResource:
        return OwnedResource(self.kind, tags.get("provisioner:resource", ""), arn.rsplit(":", 1)[-1], arn)

    def ref(self, address_name: str, attr: str = "arn") -> Ref:
        return Ref(f"{self.kind}.{address_name}", attr)


class Registry:
    """Reconcilers registered explicitly by kind; a duplicate kind is a programming error."""

    def __init__(self, reconcilers):
        self._by_kind: dict[str, Reconciler] = {}
        for reconciler in reconcilers:
            if reconciler.kind in self._by_kind:
                raise ValueError(f"two reconcilers for kind {reconciler.kind}")
            self._by_kind[reconciler.kind] = reconciler

    def __getitem__(self, kind: str) -> Reconciler:
        return self._by_kind[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self._by_kind

    def kinds(self) -> list[str]:
        return sorted(self._by_kind, key=lambda k: (self._by_kind[k].rank, k))

    def all(self) -> list[Reconciler]:
        return [self._by_kind[k] for k in self.kinds()]


def tags_from_list(items, key: str = "Key", value: str = "Value") -> dict:
    """AWS tag list -> dict, without the aws:* tags AWS manages itself."""
    return {t[key]: t[value] for t in items or [] if not t[key].startswith("aws:")}


def tags_to_list(tags: dict, key: str = "Key", value: str = "Value") -> list:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_changes(desired: dict, actual: dict) -> tuple[dict, list]:
    """(tags to set, keys to remove) to go from actual to desired; aws:* keys are never touched."""
    to_set = {k: v for k, v in desired.items() if actual.get(k) != v}
    to_remove = sorted(k for k in actual if k not in desired and not k.startswith("aws:"))
    return to_set, to_remove


def changed_fields(diffs) -> set:
    return {d.field for d in diffs}
