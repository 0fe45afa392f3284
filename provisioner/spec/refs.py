"""${kind.name.attr} references: parsed into Ref objects and resolved late, from outputs."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

REF_PATTERN = re.compile(r"\$\{([^}]*)\}")
REF_BODY = re.compile(r"^([a-z0-9_]+)\.([A-Za-z0-9][A-Za-z0-9_-]*)\.([a-z_]+)$")


@dataclass(frozen=True)
class Ref:
    """A reference to an attribute (arn, name, url, ...) of another resource of the spec."""

    address: str   # "kms_keys.data"
    attr: str      # "arn"
    written: str | None = field(default=None, compare=False)   # a typed field's short form: "data"

    @property
    def kind(self) -> str:
        return self.address.split(".", 1)[0]

    def __str__(self) -> str:
        return "${%s.%s}" % (self.address, self.attr)

@dataclass(frozen=True)
class Template:
    """A string with references inside it, e.g. "arn:aws:s3:::${s3_buckets.data.name}/*"."""

    parts: tuple   # of str and Ref

    def refs(self):
        return [p for p in self.parts if isinstance(p, Ref)]

    def __str__(self) -> str:
        return "".join(str(p) for p in self.parts)


class Unknown:
    """A value that exists only after an earlier change of the same run has been applied."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    __str__ = __repr__


UNKNOWN = Unknown()


class RefSyntaxError(ValueError):
    pass


def parse_string(text: str):
    """Return text unchanged, a Ref (whole string is one reference) or a Template."""
    if "${" not in text:
        return text
    parts: list = []
    position = 0
    escaped = text.replace("$${", "\0")
    for match in REF_PATTERN.finditer(escaped):
        body = REF_BODY.match(match.group(1).strip())
        if not body:
            raise RefSyntaxError(
                f"bad reference '{match.group(0)}': expected ${{kind.name.attribute}}, e.g. ${{kms_keys.data.arn}}")
        if match.start() > position:
            parts.append(escaped[position:match.start()])
        parts.append(Ref(f"{body.group(1)}.{body.group(2)}", body.group(3)))
        position = match.end()
    if "${" in escaped[position:] or any("${" in p for p in parts if isinstance(p, str)):
        raise RefSyntaxError(f"unterminated reference in '{text}'")
    if position < len(escaped):
        parts.append(escaped[position:])
    parts = [p.replace("\0", "${") if isinstance(p, str) else p for p in parts]
    if len(parts) == 1 and isinstance(parts[0], Ref):
        return parts[0]
    if not any(isinstance(p, Ref) for p in parts):   # only escaped $${...}: plain text
        return "".join(parts)
    return Template(tuple(parts))


def find_refs(value, path=()):
    """Yield (path, Ref) for every reference inside a nested value."""
    if isinstance(value, Ref):
        yield path, value
    elif isinstance(value, Template):
        for ref in value.refs():
            yield path, ref
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find_refs(item, path + (key,))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from find_refs(item, path + (index,))


def resolve(value, lookup):
    """Replace references using lookup(ref) -> value (may return UNKNOWN). Returns a new value."""
    if isinstance(value, Ref):
        return lookup(value)
    if isinstance(value, Template):
        resolved = [lookup(p) if isinstance(p, Ref) else p for p in value.parts]
        if any(p is UNKNOWN for p in resolved):
            return UNKNOWN
        return "".join(str(p) for p in resolved)
    if isinstance(value, dict):
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    return value


def contains_unknown(value) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    return False
