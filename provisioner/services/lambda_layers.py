"""Lambda layers: a folder packaged like function code (under python/ for Python) and published as a new
version whenever its content changes; functions use the newest version.

Layer versions cannot be tagged, so ownership is written at the end of each version's description
("[provisioner PROJECT/ENVIRONMENT ADDRESS]") and read back as the ownership tags.
"""
from __future__ import annotations

import json
import re

from provisioner.aws.errors import unless_missing
from provisioner.engine.operations import Call
from provisioner.services.base import NameRule, Observed, OwnedResource, Reconciler
from provisioner.services.lambda_code import code_folder, folder_package
from provisioner.services.lambda_packaging import Package
from provisioner.spec.runtimes import deprecation_warning

MARKER = re.compile(r"\s*\[provisioner (?P<project>[^/\]]+)/(?P<environment>[^ \]]+) (?P<address>[^\]]+)\]$")


def _ownership(description: str) -> tuple[str, dict]:
    """(description without the marker, the ownership tags it carries)."""
    match = MARKER.search(description or "")
    if not match:
        return description or "", {}
    return description[:match.start()], {"provisioner:project": match["project"],
                                         "provisioner:environment": match["environment"],
                                         "provisioner:resource": match["address"]}


def _sid(account: str) -> str:
    return "share-all" if account == "*" else f"share-{account}"


class LambdaLayers(Reconciler):
    taggable = False   # ownership lives in a marker, not in tags
    kind = "lambda_layers"
    service = "lambda"
    attributes = frozenset({"arn", "layer_arn", "name", "version"})
    name_rule = NameRule(r"[A-Za-z0-9_-]+", 1, 140, "a Lambda layer name", "letters, digits, '_' and '-'")
    derived_fields = frozenset({"code_sha256"})
    outputs_new_on_change = frozenset({"arn", "version"})
    rank = 21
    missing = ("ResourceNotFoundException",)
    updates = ((frozenset({"code_sha256", "description", "runtimes", "architectures", "share_with"}),
                "_publish_or_share"),)

    def validate(self, node, spec):
        out = [(("runtimes", index), warning, "warning") for index, runtime in enumerate(node.props["runtimes"])
               if (warning := deprecation_warning(runtime))]
        if code_folder(spec, node.props["code"]) is None:
            out.append((("code",), f"code folder '{node.props['code']}' not found next to the spec or above it",
                        "error"))
        return out

    def package(self, node, spec) -> Package:
        folder = code_folder(spec, node.props["code"])
        python = all(runtime.startswith("python") for runtime in node.props["runtimes"])
        prefix = "python/" if python and folder is not None and not (folder / "python").is_dir() else ""
        return folder_package(node, folder, node.props["code"], node.props["architectures"][0],
                              node.props["runtimes"][0], prefix=prefix)

    def desired(self, node, ctx):
        package = self.package(node, ctx.spec)
        return {"code_sha256": package.sha256, "description": node.props["description"],
                "runtimes": sorted(node.props["runtimes"]), "architectures": sorted(node.props["architectures"]),
                "share_with": sorted(node.props["share_with"]), "_package": package}

    def read(self, node, ctx):
        client = ctx.client("lambda")
        versions = unless_missing(self._versions, *self.missing, ctx=ctx, name=node.physical_name)
        if not versions:
            return None
        newest = max(versions, key=lambda v: v["Version"])
        content = client.get_layer_version(LayerName=node.physical_name, VersionNumber=newest["Version"])["Content"]
        description, tags = _ownership(newest.get("Description", ""))
        props = {"code_sha256": content.get("CodeSha256"), "description": description,
                 "runtimes": sorted(newest.get("CompatibleRuntimes", [])),
                 "architectures": sorted(newest.get("CompatibleArchitectures", [])),
                 "share_with": self._shared_with(ctx, node.physical_name, newest["Version"])}
        return Observed(props, self._outputs(newest["LayerVersionArn"], newest["Version"], node), tags)

    @staticmethod
    def _versions(ctx, name) -> list:
        pages = ctx.client("lambda").get_paginator("list_layer_versions").paginate(LayerName=name)
        return [version for page in pages for version in page["LayerVersions"]]

    def _shared_with(self, ctx, name, version) -> list[str]:
        """Accounts the version's policy lets use it ("*": every account)."""
        found = self.get(ctx, "get_layer_version_policy", LayerName=name, VersionNumber=version)
        statements = json.loads(found["Policy"]).get("Statement", []) if found else []
        principals = [s.get("Principal") for s in statements if s.get("Action") == "lambda:GetLayerVersion"]
        principals = [p.get("AWS") if isinstance(p, dict) else p for p in principals]
        return sorted(p.split(":")[4] if p.startswith("arn:") else p for p in principals if isinstance(p, str))

    @staticmethod
    def _share(name, version, add=(), remove=()):
        for account in remove:
            yield Call("lambda", "remove_layer_version_permission",
                       {"LayerName": name, "VersionNumber": version, "StatementId": _sid(account)},
                       f"stop sharing with {account}")
        for account in add:
            yield Call("lambda", "add_layer_version_permission",
                       {"LayerName": name, "VersionNumber": version, "StatementId": _sid(account),
                        "Action": "lambda:GetLayerVersion", "Principal": account}, f"share with {account}")

    def _outputs(self, version_arn, version, node):
        return {"arn": version_arn, "layer_arn": version_arn.rsplit(":", 1)[0], "name": node.physical_name,
                "version": version}

    def create(self, node, desired, ctx):
        marker = f"[provisioner {ctx.owner.project}/{ctx.owner.environment} {node.address}]"
        published = yield Call("lambda", "publish_layer_version", {
            "LayerName": node.physical_name, "Content": {"ZipFile": desired["_package"].zip_bytes},
            "Description": f"{desired['description']} {marker}".strip(), "CompatibleRuntimes": desired["runtimes"],
            "CompatibleArchitectures": desired["architectures"]}, "publish a version")
        yield from self._share(node.physical_name, published["Version"], add=desired["share_with"])
        return self._outputs(published["LayerVersionArn"], published["Version"], node)

    def _publish_or_share(self, node, desired, actual, fields, ctx):
        """Versions are immutable: any other change publishes a new one (older ones stay for functions using them);
        who may use the newest one is its permissions, changed in place."""
        if fields - {"share_with"}:
            return (yield from self.create(node, desired, ctx))
        wanted, have = set(desired["share_with"]), set(actual.props["share_with"])
        yield from self._share(node.physical_name, actual.outputs["version"],
                               add=sorted(wanted - have), remove=sorted(have - wanted))
        return dict(actual.outputs)   # the same version: what dependents planned as unknown

    def delete(self, resource, ctx):
        name = resource.physical_id
        for version in unless_missing(self._versions, *self.missing, default=[], ctx=ctx, name=name):
            yield Call("lambda", "delete_layer_version", {"LayerName": name, "VersionNumber": version["Version"]},
                       f"delete version {version['Version']}", missing_ok=True)

    def discover(self, ctx):
        owned = []
        for page in ctx.client("lambda").get_paginator("list_layers").paginate():
            for layer in page["Layers"]:
                latest = layer.get("LatestMatchingVersion", {})
                _, tags = _ownership(latest.get("Description", ""))
                if ctx.owner.owns(tags):   # identified like read() does: by its newest version
                    owned.append(OwnedResource(self.kind, tags["provisioner:resource"], layer["LayerName"],
                                               latest["LayerVersionArn"]))
        return owned
