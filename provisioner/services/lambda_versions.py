"""A function's alias: $LATEST published as a version whenever the function changes, the alias moved to
it, and the alias's provisioned concurrency (which lives on the alias, never on $LATEST)."""
from __future__ import annotations

from provisioner.aws.errors import CALL_ERRORS, is_not_emulated
from provisioner.engine.operations import Call
from provisioner.services.base import NOT_RETURNED

PUBLISHED = "$LATEST published"
NO_PROVISIONED_CONCURRENCY = "ProvisionedConcurrencyConfigNotFoundException"


def configuration(config) -> dict:
    """A function's (or a version's) configuration, in desired's shape."""
    return {
        "runtime": config.get("Runtime"),
        "handler": config.get("Handler"),
        "architecture": (config.get("Architectures") or ["x86_64"])[0],
        "memory": config.get("MemorySize"),
        "timeout": config.get("Timeout"),
        "ephemeral_storage": config.get("EphemeralStorage", {}).get("Size", 512),
        "description": config.get("Description", ""),
        "role": config.get("Role"),
        "environment": config.get("Environment", {}).get("Variables", {}),
        "tracing": config.get("TracingConfig", {}).get("Mode", "PassThrough"),
        "layers": [layer["Arn"] for layer in config.get("Layers", [])],
        "code_sha256": config.get("CodeSha256"),
    }


def desired_alias(alias) -> dict | None:
    return {"name": alias["name"], "version": PUBLISHED,
            "provisioned_concurrency": alias.get("provisioned_concurrency")} if alias else None


def read_alias(get, ctx, node, config, warnings) -> dict | None:
    """The alias as found: whether it points at $LATEST published, and its provisioned concurrency.
    get is the reconciler's read (None when missing)."""
    name, alias_name = node.physical_name, node.props["alias"]["name"]
    alias = get(ctx, "get_alias", FunctionName=name, Name=alias_name)
    if alias is None:
        return None
    versions = []
    for page in ctx.client("lambda").get_paginator("list_versions_by_function").paginate(FunctionName=name):
        versions.extend(v for v in page["Versions"] if v["Version"] != "$LATEST")
    newest = max(versions, key=lambda v: int(v["Version"]), default=None)
    current = (newest is not None and alias["FunctionVersion"] == newest["Version"]
               and configuration(newest) == configuration(config))
    version = PUBLISHED if current else f"version {alias['FunctionVersion']} (behind $LATEST)"
    try:
        provisioned = get(ctx, "get_provisioned_concurrency_config", FunctionName=name, Qualifier=alias_name)
        provisioned = provisioned.get("RequestedProvisionedConcurrentExecutions") if provisioned else None
    except CALL_ERRORS as exc:
        if not is_not_emulated(exc):
            raise
        provisioned = NOT_RETURNED
        if node.props["alias"].get("provisioned_concurrency"):
            warnings.append("alias.provisioned_concurrency: not emulated by this endpoint "
                            "(GetProvisionedConcurrencyConfig); not applied and not compared")
    return {"name": alias_name, "version": version, "provisioned_concurrency": provisioned}


def publish(node, desired, have_alias, ctx):
    """Publish $LATEST as a version (AWS returns the newest one when nothing changed since) and move
    the alias to it; provisioned concurrency lives on the alias, never on $LATEST."""
    name, alias = node.physical_name, desired["alias"]
    version = (yield Call("lambda", "publish_version", {"FunctionName": name}, "publish $LATEST"))["Version"]
    target = {"FunctionName": name, "Name": alias["name"], "FunctionVersion": version}
    found = have_alias
    if found is None:
        found = yield Call("lambda", "get_alias", {"FunctionName": name, "Name": alias["name"]},
                           "whether the alias exists", missing_ok=True)
    if found is None:
        alias_arn = (yield Call("lambda", "create_alias", target, f"alias {alias['name']}"))["AliasArn"]
    else:
        alias_arn = (yield Call("lambda", "update_alias", target, f"move alias {alias['name']}"))["AliasArn"]
    wanted = alias["provisioned_concurrency"]
    had = (have_alias or {}).get("provisioned_concurrency")
    if had is not NOT_RETURNED and wanted != had:
        qualifier = {"FunctionName": name, "Qualifier": alias["name"]}
        try:
            if wanted:
                yield Call("lambda", "put_provisioned_concurrency_config",
                           {**qualifier, "ProvisionedConcurrentExecutions": wanted}, "provisioned concurrency")
            else:
                yield Call("lambda", "delete_provisioned_concurrency_config", qualifier,
                           "remove provisioned concurrency")
        except CALL_ERRORS as exc:
            if not is_not_emulated(exc):
                raise
            ctx.warn(f"{node.address}: alias.provisioned_concurrency: not emulated by this endpoint "
                     "(PutProvisionedConcurrencyConfig); not applied")
    return {"version": version, "alias_arn": alias_arn}
