"""The semantic checks of a spec, as small registered rules (as cfn-lint's): each takes the built spec and
its document and returns diagnostics. The references stage always runs; a later stage runs only when
nothing before it found an error: a resource whose references are wrong is not checked any further."""
from __future__ import annotations

from provisioner.errors import Diagnostic
from provisioner.spec.model import ACCOUNT_PLACEHOLDER
from provisioner.spec.refs import find_refs

STAGES = ("references", "resources", "graph")
RULES: dict = {stage: [] for stage in STAGES}


def rule(stage: str):
    def register(check):
        RULES[stage].append(check)
        return check
    return register


def run_checks(spec, doc, has_errors: bool = False) -> list[Diagnostic]:
    """The diagnostics of every rule, stage by stage (has_errors: building the spec already found one)."""
    found: list[Diagnostic] = []
    for index, stage in enumerate(STAGES):
        if index and (has_errors or any(d.severity == "error" for d in found)):
            break
        for check in RULES[stage]:
            found.extend(check(spec, doc))
    return found


@rule("references")
def spec_tags_are_plain_text(spec, doc) -> list[Diagnostic]:
    return [doc.diagnostic(("tags", key), "references are not allowed in the spec's tags "
                                          "(they go on every resource); use a resource's own tags")
            for key, value in spec.tags.items() if "${" in value]


@rule("references")
def references_resolve(spec, doc) -> list[Diagnostic]:
    """Every reference names a kind, a resource of the spec and an attribute it has."""
    return [diagnostic for node in spec.nodes.values() for diagnostic in _reference_problems(node, spec, doc)]


def _reference_problems(node, spec, doc) -> list[Diagnostic]:
    registry = spec.registry
    out = []
    # references in the resource's own tags count too (spec-level tags are plain text)
    tag_refs = [(("tags",) + rel_path, ref) for rel_path, ref in find_refs(node.tags)]
    for rel_path, ref in list(find_refs(node.props)) + tag_refs:
        path = node.path + rel_path
        # a typed field's short form (`queue: dlq`) is named as written, by the field's path and value
        about = f"reference {ref}: " if ref.written is None else ""
        target_kind, _, target_name = ref.address.partition(".")
        if target_kind not in registry:
            out.append(doc.diagnostic(path, f"{about}unknown resource kind '{target_kind}'"))
            continue
        if ref.address not in spec.nodes:
            if node.owner is not None:   # a generated resource's reference comes from its owner's, reported there
                continue
            known = sorted(n.name for n in spec.nodes.values() if n.kind == target_kind)
            hint = f" (defined: {', '.join(known)})" if known else f" (the spec has no {target_kind})"
            out.append(doc.diagnostic(path, f"{about}no resource '{target_name}' in {target_kind}{hint}"))
            continue
        attributes = registry[target_kind].attributes
        if ref.attr not in attributes:
            out.append(doc.diagnostic(
                path, f"{about}{target_kind} have no attribute '{ref.attr}' "
                      f"(available: {', '.join(sorted(attributes))})"))
            continue
        if ref.address == node.address and ref.written is not None:   # a typed field naming its own resource
            out.append(doc.diagnostic(path, f"{about}a resource cannot reference itself"))
            continue
        if ref.address == node.address:   # ${self.attr}: fine when known before the resource exists
            from provisioner.services.delivery import predictable
            if not predictable(ref, spec):
                out.append(doc.diagnostic(path, f"{about}a resource can only name its own attributes known before "
                                                f"it exists (${{self.{ref.attr}}} is known only after creation)"))
            continue
    return out


@rule("resources")
def physical_names_are_unique(spec, doc) -> list[Diagnostic]:
    seen: dict = {}
    out = []
    for node in spec.nodes.values():
        key = (node.kind, node.physical_name)
        if key in seen:
            out.append(doc.diagnostic(node.path, f"physical name '{node.physical_name}' is also used by {seen[key]}"))
        else:
            seen[key] = node.address
    return out


@rule("references")
def physical_names_are_valid(spec, doc) -> list[Diagnostic]:
    """Each physical name follows its service's rule (an account placeholder counts as 12 digits)."""
    out = []
    for node in spec.nodes.values():
        rule_of_kind = spec.registry[node.kind].name_rule
        if rule_of_kind is None or node.address in spec.bad_names:
            continue
        problem = rule_of_kind.check(node.physical_name.replace(ACCOUNT_PLACEHOLDER, "0" * 12))
        if problem:
            written = node.owner is None and "name" in doc.data[node.kind][node.name]
            out.append(doc.diagnostic(node.path + ("name",) if written else node.path, problem))
    return out


@rule("resources")
def deletion_protection_needs_tags(spec, doc) -> list[Diagnostic]:
    return [doc.diagnostic(node.path + ("deletion_protection",),
                           f"{node.kind} take no tags, so deletion protection cannot be recorded on them")
            for node in spec.nodes.values()
            if node.props.get("deletion_protection") and not spec.registry[node.kind].taggable]


@rule("resources")
def kind_rules(spec, doc) -> list[Diagnostic]:
    """What each kind checks of its own resources, and the secure defaults they turn off."""
    out = []
    for node in spec.nodes.values():
        reconciler = spec.registry[node.kind]
        for rel_path, message, severity in reconciler.validate(node, spec) + reconciler.opt_out_warnings(node):
            out.append(doc.diagnostic(node.path + tuple(rel_path), message, severity))
    return out


@rule("graph")
def no_cycles(spec, doc) -> list[Diagnostic]:
    from provisioner.spec.graph import cycle_diagnostics
    return cycle_diagnostics(spec)
