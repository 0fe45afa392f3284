"""The plan is data: typed changes with field-level diffs, computed by one generic diff."""
from __future__ import annotations

import concurrent.futures
import itertools
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from provisioner.engine.diff import ABSENT, FieldDiff, diff
from provisioner.engine.ownership import PROTECTED
from provisioner.errors import AwsCallError, OwnershipConflict
from provisioner.services.base import Observed, OwnedResource
from provisioner.spec.graph import topological_order
from provisioner.spec.refs import UNKNOWN, contains_unknown

CREATE, UPDATE, REPLACE, DELETE, NOOP = "create", "update", "replace", "delete", "noop"
PROTECTED_MESSAGE = ("deletion_protection is on; set deletion_protection: false in the spec and apply "
                     "before it can be deleted")


@dataclass(frozen=True)
class Change:
    action: str
    address: str
    kind: str
    physical_name: str
    diffs: tuple = ()
    reason: str = ""
    ignored: tuple = ()
    node: Any = field(default=None, compare=False, repr=False)
    desired: Any = field(default=None, compare=False, repr=False)       # with references, resolved late
    actual: Observed | None = field(default=None, compare=False, repr=False)
    owned: OwnedResource | None = field(default=None, compare=False, repr=False)
    blocked: str = ""          # why this change may not run (e.g. data loss without the flag)


@dataclass
class Plan:
    project: str
    environment: str
    region: str
    changes: list
    warnings: list = field(default_factory=list)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != NOOP]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def counts(self) -> dict:
        counts = {CREATE: 0, UPDATE: 0, REPLACE: 0, DELETE: 0, NOOP: 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def blocked(self) -> list[Change]:
        return [c for c in self.changes if c.blocked]


def _flatten_create(desired: dict) -> tuple:
    out = []
    for key, value in desired.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict) and value and not contains_unknown(value) and "Statement" not in value:
            out.extend(FieldDiff(f"{key}.{k}", ABSENT, v) for k, v in value.items())
        else:
            out.append(FieldDiff(key, ABSENT, value))
    return tuple(out)


def interleaved_by_kind(nodes: list) -> list:
    """The nodes with their kinds taken in turn (queue, table, function, queue, ...). When a plan has more
    nodes than readers, reads of one kind go to one service's endpoint, and in spec order the reads in
    flight would be all of one kind at a time, each service in turn opening as many connections as
    there are readers."""
    by_kind: dict = {}
    for node in nodes:
        by_kind.setdefault(node.kind, []).append(node)
    return [node for group in itertools.zip_longest(*by_kind.values()) for node in group if node is not None]


class Planner:
    def __init__(self, ctx):
        self.ctx = ctx
        self.registry = ctx.registry

    def discover(self) -> list[OwnedResource]:
        found: list[OwnedResource] = []
        with concurrent.futures.ThreadPoolExecutor(self.ctx.options.read_parallelism) as pool:
            for owned in pool.map(lambda r: r.discover(self.ctx), self.registry.all()):
                found.extend(owned)
        return found

    def read_all(self, nodes: list) -> dict:
        def read(node):
            try:
                return node.address, self.registry[node.kind].read(node, self.ctx)
            except botocore.exceptions.ClientError as exc:
                error = exc.response.get("Error", {})
                raise AwsCallError(node.address, "read", exc.operation_name, error.get("Code", "?"),
                                   error.get("Message", str(exc))) from exc

        readers = self.ctx.options.read_parallelism
        with concurrent.futures.ThreadPoolExecutor(readers) as pool:   # all at once, or the kinds in turn
            return dict(pool.map(read, nodes if len(nodes) <= readers else interleaved_by_kind(nodes)))

    def plan(self, spec, prune: bool = True) -> Plan:
        ctx = self.ctx
        order = topological_order(spec.nodes)
        for address in order:
            node = spec.nodes[address]
            ctx.set_outputs(address, self.registry[node.kind].predicted_outputs(node, ctx))
        # discovery (list calls) runs beside the reads of the spec's resources: neither waits for the other
        ctx.read_in_plan = frozenset(order)
        with concurrent.futures.ThreadPoolExecutor(1) as beside:
            discovery = beside.submit(self.discover) if prune else None
            observed = self.read_all([spec.nodes[a] for a in order])
            owned = discovery.result() if discovery else []
        self._adopt(spec, observed)
        changes = [self._change(spec.nodes[address], observed[address]) for address in order]
        if prune:
            changes.extend(self._orphans(spec, owned, observed))
        return Plan(spec.project, spec.environment, ctx.region, changes, list(ctx.warnings))

    def _adopt(self, spec, observed: dict) -> None:
        """Takes the outputs and warnings of what was found; refuses any that another owner's tags mark."""
        ctx = self.ctx
        conflicts = []
        for address, found in observed.items():
            if found is None:
                continue
            node = spec.nodes[address]
            tag_address = found.tags.get("provisioner:resource")
            if not ctx.owner.owns(found.tags) or tag_address != address:
                conflicts.append(
                    f"{address}: {node.kind[:-1].replace('_', ' ')} '{node.physical_name}' exists but "
                    f"{ctx.owner.describe(found.tags)}"
                    + (f" as {tag_address}" if ctx.owner.owns(found.tags) else "")
                    + "; refusing to adopt or change it (rename the resource with name: or remove the other one)")
                continue
            ctx.set_outputs(address, found.outputs)
            for warning in found.warnings:
                ctx.warn(f"{address}: {warning}")
        if conflicts:
            raise OwnershipConflict("\n".join(conflicts))

    def desired_of(self, node) -> dict:
        """What the spec asks of node, references unresolved, with the tags for kinds with a tag API."""
        reconciler = self.registry[node.kind]
        desired = reconciler.desired(node, self.ctx)
        if reconciler.tag_api is not None:
            desired = {**desired, "tags": reconciler.desired_tags(node, self.ctx)}
        return desired

    def _change(self, node, found: Observed | None) -> Change:
        """What it takes from found (None: nothing there) to the spec's node."""
        ctx, reconciler, address = self.ctx, self.registry[node.kind], node.address
        desired = self.desired_of(node)
        resolved = reconciler.normalize(ctx.resolve(desired))
        if found is None:
            return Change(CREATE, address, node.kind, node.physical_name, _flatten_create(resolved),
                          node=node, desired=desired)
        ignore = tuple(node.ignore_changes) + tuple(reconciler.write_only)
        diffs = tuple(diff(resolved, found.props, ignore))
        if not diffs:
            action = NOOP
        elif any(d.field in reconciler.immutable for d in diffs):
            action = REPLACE
        else:
            action = UPDATE
        if action != NOOP and reconciler.outputs_new_on_change:
            # dependents see "(known after apply)" and pick up the new value when they run
            ctx.set_outputs(address, {attr: UNKNOWN for attr in reconciler.outputs_new_on_change})
        owned_self = OwnedResource(node.kind, address, found.outputs.get("_physical_id", node.physical_name),
                                   found.outputs.get("arn", ""))
        blocked = ""
        if action == REPLACE and found.tags.get(PROTECTED) == "true":
            blocked = PROTECTED_MESSAGE
        elif action == REPLACE and reconciler.data_bearing and not ctx.options.allow_data_loss \
                and reconciler.has_data(owned_self, ctx):
            blocked = "replacing it deletes the data it holds; pass --allow-data-loss to allow"
        reason = ("changes " + ", ".join(sorted({d.field for d in diffs if d.field in reconciler.immutable}))
                  + " (cannot be changed in place)") if action == REPLACE else ""
        return Change(action, address, node.kind, node.physical_name, diffs, reason=reason,
                      ignored=tuple(node.ignore_changes), node=node, desired=desired, actual=found,
                      owned=owned_self, blocked=blocked)

    def _orphans(self, spec, owned: list[OwnedResource], observed: dict) -> list[Change]:
        kept = {(a, found.outputs.get("arn")) for a, found in observed.items() if found is not None}
        orphans = []
        for resource in owned:
            if (resource.address, resource.arn) in kept:
                continue
            reason = ("not in the spec" if resource.address not in spec.nodes
                      else "a leftover copy (the spec's resource is another one)")
            orphans.append(self._delete_change(resource, reason, check_data=True))
        return self._ordered_deletes(orphans)

    def _delete_change(self, resource: OwnedResource, reason: str, check_data: bool) -> Change:
        reconciler = self.registry[resource.kind]
        blocked = ""
        if resource.protected:
            blocked = PROTECTED_MESSAGE
        elif check_data and reconciler.data_bearing and not self.ctx.options.allow_data_loss \
                and reconciler.has_data(resource, self.ctx):
            blocked = "it holds data; pass --allow-data-loss to delete it"
        return Change(DELETE, resource.address or resource.arn, resource.kind, resource.physical_id,
                      reason=reason, owned=resource, blocked=blocked)

    def _ordered_deletes(self, changes: list[Change]) -> list[Change]:
        return sorted(changes, key=lambda c: (-self.registry[c.kind].rank, c.address))

    def plan_destroy(self) -> Plan:
        owned = self.discover()
        changes = [self._delete_change(r, "owned by this environment", check_data=False) for r in owned]
        return Plan(self.ctx.owner.project, self.ctx.owner.environment, self.ctx.region,
                    self._ordered_deletes(changes), list(self.ctx.warnings))
