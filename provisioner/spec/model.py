"""From a loaded document to a validated Spec of resource nodes with references and dependencies."""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

from provisioner.errors import Diagnostic, SpecError
from provisioner.spec.loader import Document, format_path, load_document
from provisioner.spec.refs import Ref, RefSyntaxError, Template, find_refs, parse_string
from provisioner.spec.schema import complete, kind_schema, property_names, schema_diagnostics

OWNER_TAGS = ("provisioner:project", "provisioner:environment", "provisioner:resource")
DEFAULT_REGION = "us-east-1"
ACCOUNT_PLACEHOLDER = "{account_id}"   # in names; bound to the caller's account when a run starts
SPEC_KEYS = ("version", "project", "environment", "region", "tags", "defaults")


@dataclass
class ResourceNode:
    kind: str
    name: str                 # logical name
    props: dict               # validated, defaults applied, references parsed into Ref/Template
    path: tuple               # where the resource is written in the spec
    physical_name: str = ""
    tags: dict = field(default_factory=dict)
    ignore_changes: tuple = ()
    deps: set = field(default_factory=set)    # addresses this node references
    default_physical_name: str = ""           # {project}-{environment}-{name} or the name: template
    owner: str | None = None                  # address of the node that implies this one (its role, logs)
    written: dict = field(default_factory=dict)   # the settings as the spec gives them (with its defaults:)

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"

    def refs(self):
        return list(find_refs(self.props))


@dataclass
class Spec:
    file: str
    document: Document
    project: str
    environment: str
    region: str
    tags: dict
    nodes: dict               # address -> ResourceNode, in spec order
    registry: object = None
    warnings: list = field(default_factory=list)
    bad_names: set = field(default_factory=set)   # nodes whose name: already has a diagnostic
    _deliveries: dict | None = field(default=None, init=False, repr=False, compare=False)

    def deliveries_to(self, address: str) -> list:
        """What the spec's resources make AWS services send to address, indexed on the first question
        (every node asks, so a scan per node would be quadratic in the size of the spec)."""
        if self._deliveries is None:
            self._deliveries = self.deliveries_by_target()
        return self._deliveries.get(address, [])

    def deliveries_by_target(self) -> dict:
        """{target address: [Delivery]} of every resource of the spec, as its nodes are now."""
        index: dict = {}
        for sender in self.nodes.values():
            for delivery in self.registry[sender.kind].deliveries(sender, self):
                index.setdefault(delivery.target, []).append(delivery)
        return index

    def common_tags(self) -> dict:
        """The tags every resource of the spec carries: the cost tags, then the spec's own."""
        return {**cost_tags(self.project, self.environment), **self.tags}

    def owner_tags(self, node: ResourceNode) -> dict:
        return {
            "provisioner:project": self.project,
            "provisioner:environment": self.environment,
            "provisioner:resource": node.address,
        }

    def bind_account(self, account_id: str) -> None:
        for node in self.nodes.values():
            node.physical_name = node.physical_name.replace(ACCOUNT_PLACEHOLDER, account_id)

    @property
    def needs_account(self) -> bool:
        return any(ACCOUNT_PLACEHOLDER in n.physical_name for n in self.nodes.values())

    def node(self, address: str) -> ResourceNode:
        return self.nodes[address]

    def dependents(self, address: str) -> list[ResourceNode]:
        return [n for n in self.nodes.values() if address in n.deps]


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "tags" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif key == "code" and isinstance(merged.get(key), dict):
            # defaults.lambda_functions.code: {upload: s3} applies to a function's `code: FOLDER` too
            merged[key] = {**merged[key], **(copy.deepcopy(value) if isinstance(value, dict) else {"path": value})}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


SELF = re.compile(r"(?<!\$)\$\{self\.")   # ${self.attr}: the resource's own attribute (not $${self.)


def _parse_strings(value, path, doc, diagnostics, address=""):
    if isinstance(value, str):
        try:
            return parse_string(SELF.sub("${" + address + ".", value) if address else value)
        except RefSyntaxError as exc:
            diagnostics.append(doc.diagnostic(path, str(exc)))
            return value
    if isinstance(value, dict):
        return {k: _parse_strings(v, path + (k,), doc, diagnostics, address) for k, v in value.items()}
    if isinstance(value, list):
        return [_parse_strings(v, path + (i,), doc, diagnostics, address) for i, v in enumerate(value)]
    return value


def _set_path(container, path, value):
    for part in path[:-1]:
        container = container[part]
    container[path[-1]] = value


def load_spec(file: str, registry, environment: str | None = None, region: str | None = None,
              text: str | None = None) -> Spec:
    """Load, validate and build a spec. Raises SpecError with every problem found; makes no AWS call."""
    doc = load_document(file, text)
    if not isinstance(doc.data, dict):
        raise SpecError([doc.diagnostic((), "a spec must be a mapping with version, project, environment, ...")])
    diagnostics = schema_diagnostics(doc)
    if diagnostics:
        raise SpecError(sorted(diagnostics, key=lambda d: (d.line or 0, d.path)))
    data = doc.data
    environment = environment or os.environ.get("PROVISIONER_ENVIRONMENT") or data["environment"]
    env_diag = _check_environment_name(file, environment)
    if env_diag:
        raise SpecError([env_diag])
    spec = Spec(
        file=file, document=doc, project=data["project"], environment=environment,
        region=region or data.get("region") or DEFAULT_REGION, tags=dict(data.get("tags", {})), nodes={},
        registry=registry)
    _build_nodes(spec, doc, diagnostics)
    for node in spec.nodes.values():
        node.deps = registry[node.kind].dependencies(node, spec, _references_to_others(node, spec))
    from provisioner.spec.checks import run_checks
    diagnostics.extend(run_checks(spec, doc, has_errors=any(d.severity == "error" for d in diagnostics)))
    spec.warnings = [d for d in diagnostics if d.severity == "warning"]
    if any(d.severity == "error" for d in diagnostics):
        raise SpecError(sorted(diagnostics, key=lambda d: (d.line or 0, d.path)))
    return spec


def _build_nodes(spec: Spec, doc: Document, diagnostics: list) -> None:
    """The spec's resources, then the ones they imply (a function's role and log group) as nodes like any other."""
    registry = spec.registry
    for kind in [k for k in doc.data if k not in SPEC_KEYS]:
        if kind not in registry:
            diagnostics.append(doc.diagnostic((kind,), f"resource kind '{kind}' is not supported yet"))
            continue
        for name, raw in doc.data[kind].items():
            node = _build_node(kind, name, raw, (kind, name), spec, doc, diagnostics, spec.bad_names)
            spec.nodes[node.address] = node
    for owner in list(spec.nodes.values()):
        for kind, name, raw in registry[owner.kind].companions(owner, spec):
            address = f"{kind}.{name}"
            if address in spec.nodes:
                diagnostics.append(doc.diagnostic(owner.path, (
                    f"{owner.address} generates {address}, which the spec also defines; rename one of them")))
                continue
            node = _build_node(kind, name, raw, owner.path, spec, doc, diagnostics, spec.bad_names)
            node.owner = owner.address
            node.written = {}   # generated from the owner's settings, not written in the spec
            spec.nodes[address] = node


def _references_to_others(node: ResourceNode, spec: Spec) -> set:
    """Addresses of the other resources of the spec this node references (its own tags included)."""
    refs = [ref for _, ref in list(find_refs(node.props)) + list(find_refs(node.tags))]
    return {ref.address for ref in refs if ref.address in spec.nodes and ref.address != node.address}


def _build_node(kind: str, name: str, raw: dict, path: tuple, spec: Spec, doc: Document,
                diagnostics: list, bad_names: set) -> ResourceNode:
    """One resource from its spec entry: defaults merged and completed, strings parsed, typed references."""
    reconciler = spec.registry[kind]
    defaults = doc.data.get("defaults", {}).get(kind, {})
    props = _deep_merge(defaults, raw)
    written = {k: v for k, v in copy.deepcopy(props).items() if k not in ("name", "ignore_changes")}
    typed_refs = complete(kind_schema(kind), props)
    # name and ignore_changes are plain text: {project}-style placeholders, field names
    name_template = props.pop("name", None)
    ignore_changes = props.pop("ignore_changes", [])
    if name_template is not None and "${" in name_template:
        bad_names.add(f"{kind}.{name}")
        diagnostics.append(doc.diagnostic(path + ("name",), (
            "references are not allowed in name; use the placeholders {project}, {environment} "
            "and {name}")))
    diagnostics.extend(_check_ignore_changes(reconciler, path, ignore_changes, doc))
    props = _parse_strings(props, path, doc, diagnostics, f"{kind}.{name}")
    for field_path, target_kind in typed_refs:
        value = _get(props, field_path)
        if isinstance(value, str):
            _set_path(props, field_path, Ref(f"{target_kind}.{value}", "arn", written=value))
        elif isinstance(value, Template) or isinstance(value, Ref) and value.kind != target_kind:
            diagnostics.append(doc.diagnostic(path + field_path, (
                f"must be the logical name of one of the spec's {target_kind} "
                f"(or a ${{{target_kind}.NAME.attribute}} reference), got '{value}'")))
    node = ResourceNode(kind=kind, name=name, props=props, path=path, written=written)
    node.default_physical_name = _default_name(name_template, spec, name)
    node.physical_name = reconciler.physical_name(node)
    node.tags = {**spec.common_tags(), **props.pop("tags", {})}
    node.ignore_changes = tuple(ignore_changes)
    return node


def _get(container, path):
    for part in path:
        container = container[part]
    return container


def cost_tags(project: str, environment: str) -> dict:
    return {"Project": project, "Environment": environment, "ManagedBy": "provisioner"}


def _default_name(template: str | None, spec: Spec, name: str) -> str:
    if template is None:
        return f"{spec.project}-{spec.environment}-{name}"
    return (template.replace("{project}", spec.project).replace("{environment}", spec.environment)
            .replace("{name}", name).replace("{region}", spec.region))


def _check_environment_name(file: str, environment: str) -> Diagnostic | None:
    import re
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", environment):
        return Diagnostic(file, None, "environment",
                          f"environment '{environment}' must be 1-32 lower-case letters, digits and hyphens")
    return None


def _check_ignore_changes(reconciler, path: tuple, fields: list, doc: Document) -> list[Diagnostic]:
    known = compared_fields(reconciler)
    return [doc.diagnostic(path + ("ignore_changes", index), (
                f"'{field}' is not a field of {reconciler.kind} (fields: {', '.join(sorted(known))})"))
            for index, field in enumerate(fields) if field.split(".", 1)[0] not in known]


def compared_fields(reconciler) -> set[str]:
    """Top-level fields diff can name for this kind, and so the ones ignore_changes may name."""
    return (property_names(reconciler.kind) | reconciler.derived_fields) - {"name", "ignore_changes"}


def is_reference(value) -> bool:
    return isinstance(value, (Ref, Template))


__all__ = ["Spec", "ResourceNode", "load_spec", "OWNER_TAGS", "format_path", "is_reference"]
