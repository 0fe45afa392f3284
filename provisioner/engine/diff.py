"""The one generic diff: field-level differences between what the spec wants and what AWS reports."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.spec.refs import UNKNOWN, contains_unknown

NOT_RETURNED = type("NotReturned", (), {"__repr__": lambda self: "(not returned by endpoint)"})()
"""Value of a field the endpoint accepted but does not report back: never compared, always warned."""
ABSENT = type("Absent", (), {"__repr__": lambda self: "(absent)"})()


@dataclass(frozen=True)
class FieldDiff:
    path: str
    before: Any
    after: Any

    @property
    def field(self) -> str:
        return self.path.split(".", 1)[0]


def diff(desired: dict, actual: dict, ignore=(), _prefix: str = "", _top: bool = True) -> list[FieldDiff]:
    """Field-level differences between two normalised dicts of the same shape.

    At the top level only fields present in desired are managed; inside nested mappings (tags,
    indexes, subscriptions) keys present only in actual are differences too. Lists are values:
    normalisers put them in canonical order first. NOT_RETURNED in actual is never compared.
    """
    out: list[FieldDiff] = []
    keys = list(desired) + ([] if _top else [k for k in actual if k not in desired])
    for key in keys:
        path = f"{_prefix}{key}"
        if _top and key.startswith("_"):   # carried for the write calls, never compared
            continue
        if any(path == i or path.startswith(i + ".") for i in ignore):
            continue
        want = desired.get(key, ABSENT)
        have = actual.get(key, ABSENT)
        if have is NOT_RETURNED:
            continue
        if want is UNKNOWN or (isinstance(want, list) and contains_unknown(want)):
            out.append(FieldDiff(path, have, UNKNOWN))
        elif isinstance(want, dict) and isinstance(have, dict):
            out.extend(diff(want, have, ignore, path + ".", _top=False))
        elif want != have:
            out.append(FieldDiff(path, have, want))
    return out
