"""The JSON Schema of the spec: validation with file:line diagnostics, defaults, typed references."""
from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from importlib import resources

import jsonschema
from jsonschema.exceptions import best_match

from provisioner.spec.loader import Document, Path


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(resources.files("provisioner").joinpath("spec/spec.schema.json").read_text())


@functools.lru_cache(maxsize=1)
def _validator():
    schema = load_schema()
    base = jsonschema.validators.validator_for(schema)   # the schema itself is checked by the unit tests
    # JSON Schema counts 600.0 as an integer; the spec's integers go to AWS as text ("600.0" is rejected)
    cls = jsonschema.validators.extend(base, type_checker=base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)))
    return cls(schema, format_checker=base.FORMAT_CHECKER)


_UNEXPECTED = re.compile(r"\('(.+)' (?:was|were) unexpected\)")


def _allowed_keys(schema: dict) -> list[str]:
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= set(_resolve(part).get("properties", {}))
    return sorted(names)


def _messages(error) -> list[tuple[Path, str]]:
    """Turn one jsonschema error into (path, message) pairs a person can act on."""
    path = tuple(error.absolute_path)
    if error.validator == "oneOf" and not error.context:   # valid under more than one branch
        return [(path, _one_of_message(error))]
    if error.validator in ("oneOf", "anyOf") and error.context:
        inner = best_match(_relevant_branch_errors(error))
        if inner.validator == "required" or error.validator == "oneOf" and not isinstance(error.instance, dict):
            return [(path, _one_of_message(error))]
        return _messages(inner)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        match = _UNEXPECTED.search(error.message)
        if match and isinstance(error.instance, dict):
            allowed = _allowed_keys(error.schema)
            out = []
            for name in (n.strip().strip("'") for n in match.group(1).split("', '")):
                if name in allowed:   # a known property whose value is invalid: reported by its own error
                    continue
                hint = difflib.get_close_matches(name, allowed, n=1)
                suffix = f"; did you mean '{hint[0]}'?" if hint else (
                    f"; allowed: {', '.join(allowed)}" if allowed and len(allowed) <= 12 else "")
                out.append((path + (name,), f"unknown property '{name}'{suffix}"))
            return out
    schema_path = list(error.relative_schema_path)
    if error.validator == "propertyNames" or schema_path[-2:-1] == ["propertyNames"]:
        # jsonschema reports a bad key at the mapping holding it; point at the key itself
        return [(path + (str(error.instance),), f"invalid name '{error.instance}': {_short(error)}")]
    return [(path, _short(error))]


def _relevant_branch_errors(error) -> list:
    """Errors of the oneOf/anyOf branches that could apply: a branch whose type or enum the instance
    does not even have (an object given to {"enum": [...]}) says nothing useful about the mistake."""
    relevant = [e for e in error.context
                if e.relative_path or e.validator not in ("type", "enum", "const")]
    return relevant or list(error.context)


def _one_of_message(error) -> str:
    options = []
    for branch in error.schema.get(error.validator, []):
        branch = _resolve(branch)
        if "required" in branch:
            options.append(" + ".join(branch["required"]))
        elif "pattern" in branch and "description" in branch:   # a string of one form or another
            options.append(branch["description"].rstrip("."))
        elif "enum" in branch:
            options.append(" | ".join(map(str, branch["enum"])))
        elif "type" in branch:
            options.append(str(branch["type"]))
    if options:
        return f"expected exactly one of: {'; '.join(options)}"
    return error.message


def _short(error) -> str:
    message = error.message
    if error.validator == "pattern":
        described = error.schema.get("description")
        return f"{error.instance!r} does not match {error.validator_value!r}" + (f" ({described})" if described else "")
    if error.validator in ("maxLength", "minLength"):   # the length, not a regex, tells what is wrong
        bound = "at most" if error.validator == "maxLength" else "at least"
        return f"{len(error.instance)} characters long; {bound} {error.validator_value} characters"
    if error.validator == "not":
        described = error.schema.get("description")
        return f"{error.instance!r} is not allowed" + (f" ({described})" if described else "")
    if error.validator == "const":
        return f"must be {error.validator_value!r}, got {error.instance!r}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
    if len(message) > 300:
        message = message[:300] + "..."
    return message


def schema_diagnostics(doc: Document) -> list:
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: tuple(map(str, e.absolute_path)))
    seen, out = set(), []
    for error in errors:
        for path, message in _messages(error):
            if (path, message) not in seen:
                seen.add((path, message))
                out.append(doc.diagnostic(path, message))
    return out


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**load_schema()["$defs"][name], **extra}
    return schema


def _matches(schema: dict, instance) -> bool:
    root = load_schema()
    return _validator().evolve(schema={**schema, "$defs": root["$defs"]}).is_valid(instance)


def complete(schema: dict, instance, path: Path = (), refs: list | None = None):
    """Fill schema defaults into instance (in place) and collect typed references.

    Returns the list of (path, kind) for every string field marked "x-ref" in the schema.
    Only called on instances that passed validation.
    """
    refs = [] if refs is None else refs
    schema = _resolve(schema)
    for part in schema.get("allOf", []):
        complete(part, instance, path, refs)
    for keyword in ("oneOf", "anyOf"):
        for branch in schema.get(keyword, []):
            if _matches(branch, instance):
                complete(branch, instance, path, refs)
    if "x-ref" in schema and isinstance(instance, str):
        refs.append((path, schema["x-ref"]))
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key not in instance:
                default = sub.get("default", _resolve(sub).get("default", _NO_DEFAULT))
                if default is not _NO_DEFAULT:
                    instance[key] = copy.deepcopy(default)
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if key in properties:
                complete(properties[key], value, path + (key,), refs)
            elif isinstance(extra, dict):
                complete(extra, value, path + (key,), refs)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            complete(schema["items"], item, path + (index,), refs)
    return refs


_NO_DEFAULT = object()


def property_names(kind: str) -> set[str]:
    """The top-level fields a resource of this kind accepts (the common ones included)."""
    names: set = set()
    pending = [kind_schema(kind)]
    while pending:
        schema = _resolve(pending.pop())
        names.update(schema.get("properties", {}))
        pending.extend(schema.get("allOf", []))
    return names


def kind_schema(kind: str) -> dict:
    return load_schema()["properties"][kind]["additionalProperties"]
