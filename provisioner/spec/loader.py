"""YAML loading that keeps the line of every key and item, and rejects what PyYAML lets through.

The document is composed into PyYAML nodes and converted by hand, so that every value gets a
path -> line entry, duplicate keys are errors (PyYAML silently keeps the last one) and alias
expansion is bounded (a "billion laughs" document is rejected instead of exhausting memory).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from provisioner.errors import Diagnostic, SpecError

MAX_SPEC_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

Path = tuple  # of str (mapping keys) and int (sequence indexes)


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class Document:
    """A loaded spec: plain data plus where each part came from."""

    file: str
    data: object
    lines: dict = field(default_factory=dict)   # Path -> 1-based line

    def line_of(self, path: Path) -> int | None:
        """Line of path, or of its nearest ancestor that was written in the file."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def diagnostic(self, path: Path, message: str, severity: str = "error") -> Diagnostic:
        return Diagnostic(self.file, self.line_of(path), format_path(path), message, severity)


_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.lines: dict = {}
        self.count = 0
        self.errors: list[Diagnostic] = []
        self._scalars = yaml.SafeLoader("")   # only used for its scalar resolution/construction

    def convert(self, node, path: Path, depth: int = 0):
        self.count += 1
        if self.count > MAX_NODES:
            # the node at hand is usually deep inside an anchored value; point at the top-level key
            # whose value expands (through aliases) past the limit instead
            top = self.lines.get(path[:1]) if path else None
            raise _Abort(f"document expands to more than {MAX_NODES} nodes (alias/anchor bomb?)", node, top)
        if depth > MAX_DEPTH:
            raise _Abort(f"document is nested deeper than {MAX_DEPTH} levels", node)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTION_TAGS:
            # scalars with unknown tags fail in construct_object; collections would silently drop theirs
            raise _Abort(f"unsupported YAML tag '{node.tag}'", node)
        if isinstance(node, yaml.MappingNode):
            result: dict = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Abort("YAML merge keys (<<) are not supported; write the keys out", key_node)
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Abort("mapping keys must be plain scalars", key_node)
                key = self._scalars.construct_object(key_node)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise _Abort("mapping keys must be strings", key_node)
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    first = self.lines.get(path + (key,))
                    self.errors.append(Diagnostic(
                        self.file, key_node.start_mark.line + 1, format_path(path + (key,)),
                        f"duplicate key '{key}' (first defined on line {first})"))
                    continue
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, path + (key,), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        value = self._scalars.construct_object(node)
        if isinstance(value, (bytes, bytearray)):
            raise _Abort("binary values are not supported", node)
        if hasattr(value, "isoformat"):   # YAML timestamps: keep them as the text written
            value = node.value
        return value


class _Abort(Exception):
    def __init__(self, message, node, line: int | None = None):
        super().__init__(message)
        self.line = line or (node.start_mark.line + 1 if node is not None and node.start_mark else None)


def _yaml_diagnostic(file: str, exc: yaml.YAMLError) -> Diagnostic:
    """One diagnostic for a PyYAML error: the line of the problem, and its message on one line."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Diagnostic(file, None, "", f"invalid YAML: {exc}")
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    context = exc.context
    if context and exc.context_mark and exc.context_mark.line + 1 != line:
        context = f"{context} (started on line {exc.context_mark.line + 1})"
    message = ": ".join(str(p) for p in (context, exc.problem) if p)
    return Diagnostic(file, line, "", f"invalid YAML: {message}")


def _compose(file: str, source: str):
    """The root node composed by PyYAML's pure-Python loader, whose errors become diagnostics."""
    loader = yaml.SafeLoader(source)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_diagnostic(file, exc)]) from exc
    except RecursionError as exc:   # PyYAML composes recursively: thousands of levels exhaust the stack
        raise SpecError([Diagnostic(file, loader.line + 1, "",
                                    f"document is nested deeper than {MAX_DEPTH} levels")]) from exc
    finally:
        loader.dispose()


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _compose_fast(source: str):
    """The root node composed by libyaml (tens of times faster than PyYAML's pure-Python parser), or None
    when the pure-Python loader must do it: libyaml is missing, the document is not valid YAML (PyYAML
    words the error and its line), it is empty, or it nests deeper than MAX_DEPTH (libyaml composes
    recursively in C, beyond the reach of Python's recursion limit)."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return None
    try:
        scanner = fast(source)
        try:
            depth = 0
            while scanner.check_event():
                event = scanner.get_event()
                depth += isinstance(event, _OPEN) - isinstance(event, _CLOSE)
                if depth > MAX_DEPTH:
                    return None
        finally:
            scanner.dispose()
        loader = fast(source)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return None


def load_document(file: str, text: str | bytes | None = None) -> Document:
    """Load a YAML spec from file (or from text) into a Document; raise SpecError on any problem."""
    try:
        if text is None:
            with open(file, "rb") as fh:
                text = fh.read(MAX_SPEC_BYTES + 1)
        if isinstance(text, str):
            text = text.encode("utf-8")
    except OSError as exc:
        raise SpecError([Diagnostic(file, None, "", f"cannot read spec: {exc.strerror}")]) from exc
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([Diagnostic(file, None, "", f"spec is larger than {MAX_SPEC_BYTES // 1024} KiB")])
    try:
        source = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        raise SpecError([Diagnostic(file, line, "", "spec is not valid UTF-8")]) from exc
    root = _compose_fast(source)
    if root is None:
        root = _compose(file, source)
    if root is None:
        raise SpecError([Diagnostic(file, 1, "", "spec is empty")])
    converter = _Converter(file)
    try:
        data = converter.convert(root, ())
    except _Abort as exc:
        raise SpecError([Diagnostic(file, exc.line, "", str(exc))]) from exc
    except yaml.YAMLError as exc:   # e.g. a tag SafeLoader cannot construct (!!python/...)
        raise SpecError([_yaml_diagnostic(file, exc)]) from exc
    if converter.errors:
        raise SpecError(converter.errors)
    return Document(file, data, converter.lines)
