"""The dependency graph of a spec: order, cycles, and DOT/Mermaid pictures of it."""
from __future__ import annotations

from provisioner.errors import Diagnostic
from provisioner.spec.refs import find_refs


def topological_order(nodes: dict) -> list[str]:
    """Addresses ordered so every node comes after what it references (stable in spec order)."""
    order, done, visiting = [], set(), set()

    def visit(address):
        if address in done:
            return
        visiting.add(address)
        for dep in sorted(nodes[address].deps):
            if dep in nodes and dep not in visiting:
                visit(dep)
        visiting.discard(address)
        done.add(address)
        order.append(address)

    for address in nodes:
        visit(address)
    return order


def find_cycles(nodes: dict) -> list[list[str]]:
    """Every elementary cycle found by depth-first search, each as [a, b, ..., a]."""
    cycles, state, stack = [], {}, []

    def visit(address):
        state[address] = "active"
        stack.append(address)
        for dep in sorted(nodes[address].deps):
            if dep not in nodes:
                continue
            if state.get(dep) == "active":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[address] = "done"

    for address in nodes:
        if address not in state:
            visit(address)
    return cycles


def cycle_diagnostics(spec) -> list[Diagnostic]:
    out = []
    for cycle in find_cycles(spec.nodes):
        source, target = spec.nodes[cycle[0]], cycle[1]
        refs = list(find_refs(source.props)) + [(("tags",) + p, ref) for p, ref in find_refs(source.tags)]
        field_path = next((p for p, ref in refs if ref.address == target), ())
        out.append(spec.document.diagnostic(
            source.path + tuple(field_path),
            f"reference cycle: {' -> '.join(cycle)} (a resource cannot depend on itself through references)"))
    return out


def to_dot(spec) -> str:
    lines = ["digraph provisioner {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for node in spec.nodes.values():
        lines.append(f'  "{node.address}" [label="{node.address}\\n{node.physical_name}"];')
    for node in spec.nodes.values():
        for dep in sorted(node.deps):
            lines.append(f'  "{node.address}" -> "{dep}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(spec) -> str:
    ids = {address: f"n{i}" for i, address in enumerate(spec.nodes)}
    lines = ["graph LR"]
    for address, node in spec.nodes.items():
        lines.append(f'  {ids[address]}["{address}<br/>{node.physical_name}"]')
    for address, node in spec.nodes.items():
        for dep in sorted(node.deps):
            lines.append(f"  {ids[address]} --> {ids[dep]}")
    return "\n".join(lines) + "\n"
