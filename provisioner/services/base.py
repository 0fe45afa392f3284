"""The Reconciler interface: the only place that knows a service's API."""
from __future__ import annotations

import concurrent.futures
import inspect
import re
from dataclasses import dataclass, field

from provisioner.aws.errors import unless_missing
from provisioner.engine.diff import NOT_RETURNED, diff
from provisioner.engine.operations import Call
from provisioner.policy.lint import lint_policy
from provisioner.services.delivery import (
    ENCRYPTS_AS_CALLER,
    Delivery,
    senders_known_after_creation,
    service_key_statement,
)
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref


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


def fifo_physical_name(node) -> str:
    """The default name, with the .fifo ending AWS requires of a FIFO queue or topic."""
    name = node.default_physical_name
    return name + ".fifo" if node.props.get("fifo") and not name.endswith(".fifo") else name


@dataclass(frozen=True)
class OwnedResource:
    """A resource found in AWS that carries this project's and environment's ownership tags."""

    kind: str
    address: str          # value of the provisioner:resource tag
    physical_id: str      # name, url or key id: what delete() needs
    arn: str
    protected: bool = False   # carries the deletion-protection tag: neither pruned nor destroyed

    @classmethod
    def from_tags(cls, kind: str, tags: dict, physical_id: str, arn: str) -> OwnedResource:
        return cls(kind, tags.get("provisioner:resource", ""), physical_id, arn,
                   tags.get("provisioner:deletion-protection") == "true")


def operations(value):
    """yield from a writer's result whether it yields operations or returns a value straight away."""
    if inspect.isgenerator(value):
        return (yield from value)
    return value


def listed(call: Call, items, next_token, token_param: str):
    """yield from: every item of a paged listing a write needs, each page a call; items(page) and
    next_token(page) read a page (a listing only shown, not performed, stops at its first page)."""
    found = []
    while True:
        page = yield call
        found.extend(items(page))
        token = next_token(page)
        if not isinstance(token, str) or not token:
            return found
        call = Call(call.service, call.method, {**call.params, token_param: token}, call.purpose)


def changed_leaves(desired: dict, actual: dict) -> dict:
    """dotted path -> desired value of each leaf where actual differs (ABSENT: a key only actual has),
    by the engine's diff: for writes that patch single fields."""
    out: dict = {}

    def leaves(path: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                leaves(f"{path}.{key}", item)
        else:
            out[path] = value

    for change in diff(desired, actual or {}):
        leaves(change.path, change.after)
    return out


class UnwrittenField(Exception):
    """A compared field changed that no declared update writes: a reconciler's table is incomplete."""


class Reconciler:
    kind: str = ""                       # spec section it owns, e.g. "sqs_queues"
    service: str = ""                    # boto3 client name
    attributes: frozenset = frozenset({"arn", "name"})  # attributes a ${kind.name.attr} reference may use
    name_rule: NameRule | None = None
    immutable: frozenset = frozenset()   # fields whose change needs a replacement
    write_only: frozenset = frozenset()  # desired fields that AWS does not report (not compared)
    derived_fields: frozenset = frozenset()  # compared fields with no spec property of that name
    outputs_new_on_change: frozenset = frozenset()  # outputs an update replaces (a layer's version ARN)
    tagging_type: str | None = None      # Resource Groups Tagging API type, when it covers the kind
    rank: int = 50                       # order of kinds in listings; deletes are listed in reverse
    # deletes of a higher tier finish before a lower tier starts: resources that write logs or point at
    # others (2) go before what they use (1), keys (0) last; within a tier everything runs in parallel
    delete_tier: int = 1
    data_bearing: bool = False           # pruning needs --allow-data-loss when it holds data
    taggable: bool = True                # carries tags (ownership markers otherwise): deletion_protection needs it
    # secure defaults a spec may turn off: (path in the props, the unsafe value, what is lost); validate
    # warns about each one set, naming the control it fails
    opt_outs: tuple = ()
    missing: tuple = ()                  # error codes meaning the resource, or the part asked for, is not there
    tag_api: TagApi | None = None        # how the service tags this kind (None: not taggable by its own API)
    # (fields, method): a change of any of the fields is written by the generator
    # method(node, desired, actual, changed fields among them, ctx), in this order; tags come last
    updates: tuple = ()

    # --- spec time (no AWS calls) ---
    def physical_name(self, node) -> str:
        return node.default_physical_name

    def companions(self, node, spec) -> list[tuple[str, str, dict]]:
        """Resources this node implies, as (kind, logical name, spec entry); built like written ones.

        May point the node's own props at them (a function's role).
        """
        return []

    def dependencies(self, node, spec, referenced: set) -> set:
        """Addresses that must exist before this node is created; by default everything it references,
        and the senders whose ARN its policy names but which is known only once they exist."""
        return referenced | senders_known_after_creation(node, spec)

    def validate(self, node, spec) -> list:
        """Semantic checks beyond the schema: list of (path relative to node, message, severity)."""
        return []

    def opt_out_warnings(self, node) -> list:
        out = []
        for path, unsafe, lost in self.opt_outs:
            value = node.props
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if value == unsafe:
                shown = "null" if unsafe is None else str(unsafe).lower() if isinstance(unsafe, bool) else unsafe
                out.append((path, f"{shown} turns off a secure default: {lost}", "warning"))
        return out

    def lint(self, document, path: tuple, spec, resource_policy=True, key_policy=False) -> list:
        """Policy lint findings for a hand-written policy of this node, located under path."""
        if not document:
            return []
        return [(path + rel, message, severity) for rel, message, severity
                in lint_policy(document, spec, spec.registry, resource_policy, key_policy)]

    def deliveries(self, node, spec) -> list[Delivery]:
        """What this resource makes an AWS service send to other resources of the spec."""
        return []

    def kms_key_statements(self, node, ctx) -> list[dict]:
        """Key-policy statements the key encrypting this node needs: one per service delivering to it."""
        return [service_key_statement(service, ctx.account_id)
                for service in sorted({d.service for d in ctx.deliveries_to(node.address)} - ENCRYPTS_AS_CALLER)]

    # --- AWS time ---
    def predicted_outputs(self, node, ctx) -> dict:
        """Outputs computable before the resource exists (ARNs built from names)."""
        arn = self.arn(node.physical_name, ctx)
        return {"name": node.physical_name} if arn is None else {"name": node.physical_name, "arn": arn}

    def arn(self, name: str, ctx) -> str | None:
        """The ARN of the resource of that name, for kinds where the name alone decides it."""
        return None

    def desired(self, node, ctx) -> dict:
        raise NotImplementedError

    def desired_tags(self, node, ctx) -> dict:
        """The spec's tags and the ownership tags, which the engine adds to desired for kinds with a tag API."""
        return ctx.tags_for(node)

    def normalize(self, desired: dict) -> dict:
        """Canonicalise desired after its references are resolved (e.g. policies), in read()'s shape."""
        if "_policy_document" in desired:
            from provisioner.policy.canonical import canonical_policy
            desired = {**desired, "policy": canonical_policy(desired["_policy_document"])}
        return desired

    def read(self, node, ctx) -> Observed | None:
        raise NotImplementedError

    def create(self, node, desired, ctx) -> dict:
        raise NotImplementedError

    def update(self, node, desired, actual: Observed, diffs, ctx):
        """The declared updates of the changed fields, then the tag calls; returns the new outputs."""
        fields = changed_fields(diffs)
        unwritten = fields - {"tags"} - set().union(*(written for written, _ in self.updates))
        if unwritten:
            raise UnwrittenField(f"{self.kind}: no update writes {', '.join(sorted(unwritten))}")
        outputs = {}
        for written, method in self.updates:
            if fields & written:
                outputs.update((yield from operations(
                    getattr(self, method)(node, desired, actual, fields & written, ctx))) or {})
        if "tags" in fields and self.tag_api is not None:
            yield from self.tag_api.calls(actual.outputs[self.tag_api.resource_output],
                                          desired["tags"], actual.props["tags"])
        return outputs

    def delete(self, resource: OwnedResource, ctx):
        raise NotImplementedError

    def get(self, ctx, method: str, **params):
        """A read of this kind's service, None when the resource (or the part asked for) is not there."""
        return unless_missing(getattr(ctx.client(self.service), method), *self.missing, **params)

    def read_tags(self, ctx, arn: str, resource_id: str | None = None) -> dict:
        """The resource's tags: from the run's Tagging API pass when it has them, else the kind's list call."""
        return ctx.tags_of(arn, lambda: self.tag_api.read(ctx, resource_id or arn, self.missing))

    def has_data(self, resource: OwnedResource, ctx) -> bool:
        return False

    def discover(self, ctx) -> list[OwnedResource]:
        """Owned resources of this kind; default: from the Resource Groups Tagging API pass."""
        if self.tagging_type is None:
            return []
        return [self.owned_from_arn(arn, tags) for arn, tags in ctx.tagged_resources(self.matches_arn)]

    def tagged_and_live(self, ctx, live_id) -> list[OwnedResource]:
        """The kind's resources of the Tagging API pass that are not scheduled for deletion: a destroyed key or
        secret keeps its tags through its waiting period but is no longer ours to touch. live_id(arn), asked in
        parallel, answers the physical id, or None for a resource gone or scheduled for deletion."""
        tagged = dict(ctx.tagged_resources(self.matches_arn))
        ids = ctx.concurrently({arn: lambda arn=arn: live_id(arn) for arn in tagged})
        return [OwnedResource.from_tags(self.kind, tags, ids[arn], arn) for arn, tags in tagged.items() if ids[arn]]

    def matches_arn(self, arn: str) -> bool:
        """Whether an ARN from the Tagging API is a resource of this kind (from tagging_type)."""
        service, _, resource_type = self.tagging_type.partition(":")
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[2] != service:
            return False
        if resource_type:
            return parts[5].startswith(resource_type + "/")
        return ":" not in parts[5]   # not a sub-resource such as an SNS subscription

    def owned_from_arn(self, arn: str, tags: dict) -> OwnedResource:
        return OwnedResource.from_tags(self.kind, tags, arn.rsplit(":", 1)[-1], arn)

    def owned_among(self, ctx, named: list, tags_of) -> list[OwnedResource]:
        """For kinds found by the service's own list call: of the (name, arn) pairs, those named with the
        project prefix or by the spec whose tags, tags_of(name, arn) read in parallel, are ours.
        Names the current plan reads anyway (with their tags) are skipped: read once per run."""
        nodes = [n for n in ctx.spec.nodes.values() if n.kind == self.kind] if ctx.spec else []
        wanted = {n.physical_name for n in nodes}
        read_anyway = {n.physical_name for n in nodes if n.address in ctx.read_in_plan}
        prefix = f"{ctx.owner.project}-"
        candidates = [(name, arn) for name, arn in named
                      if (name.startswith(prefix) or name in wanted) and name not in read_anyway]
        with concurrent.futures.ThreadPoolExecutor(ctx.options.read_parallelism) as pool:
            found = list(pool.map(lambda pair: tags_of(*pair), candidates))
        return [OwnedResource.from_tags(self.kind, tags, name, arn)
                for (name, arn), tags in zip(candidates, found, strict=True) if ctx.owner.owns(tags)]

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


def dropped_by_emulator(found, wanted, ctx, warnings: list, field: str, call: str):
    """found, or NOT_RETURNED (with a warning) when an emulator accepted `wanted` but reports nothing.

    On AWS (no custom endpoint) a missing value is always compared: there it is drift."""
    if found in (None, [], {}) and wanted and ctx.aws.emulated:
        warnings.append(f"{field}: not returned by this endpoint ({call}); it is set but not compared")
        return NOT_RETURNED
    return found


def changed_fields(diffs) -> set:
    return {d.field for d in diffs}
