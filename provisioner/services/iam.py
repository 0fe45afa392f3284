"""IAM roles: trust policy, inline policies (hand-written and compiled grants), managed policies,
permissions boundary, session duration, tags. Discovered through IAM's own list calls (the
Resource Groups Tagging API does not cover IAM)."""
from __future__ import annotations

import concurrent.futures
import json
import urllib.parse

import botocore.exceptions

from provisioner.aws.errors import error_code, is_not_found
from provisioner.engine.operations import Call, Together
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.policy.grants import (
    ACCESS_LEVELS,
    PREDICTABLE_ARNS,
    compile_grants,
    encryption_key,
    grant_target,
)
from provisioner.policy.lint import lint_statements
from provisioner.services.base import NameRule, Observed, Reconciler
from provisioner.services.tagging import TagApi, tags_from_list
from provisioner.spec.refs import find_refs

GRANTS_POLICY = "grants"


def _document(value):
    if isinstance(value, str):
        return json.loads(urllib.parse.unquote(value))
    return value


def strip_lint_keys(document: dict | None) -> dict | None:
    """Drop our `allow_wildcard` annotations: they are for the linter, not for AWS."""
    if not document:
        return document
    statements = [{k: v for k, v in s.items() if k != "allow_wildcard"} for s in document.get("Statement", [])]
    return {**document, "Statement": statements}


class IamRoles(Reconciler):
    kind = "iam_roles"
    service = "iam"
    attributes = frozenset({"arn", "name", "id"})
    name_rule = NameRule(r"[\w+=,.@-]+", 1, 64, "an IAM role name",
                         "letters, digits and + = , . @ _ -")
    immutable = frozenset({"path"})
    derived_fields = frozenset({"trust_policy", "inline_policies"})
    rank = 12
    missing = ("NoSuchEntity",)
    tag_api = TagApi("iam", "RoleName", "name", tag="tag_role", untag="untag_role", list="list_role_tags")
    updates = ((frozenset({"trust_policy"}), "_update_trust_policy"),
               (frozenset({"description", "max_session_duration"}), "_update_role"),
               (frozenset({"permissions_boundary"}), "_update_permissions_boundary"),
               (frozenset({"inline_policies"}), "_update_inline_policies"),
               (frozenset({"managed_policies"}), "_update_managed_policies"))

    def validate(self, node, spec):
        props, out = node.props, []
        if not props["services"] and not props.get("assume_role_policy"):
            out.append(((), "a role needs services (who may assume it) or an assume_role_policy", "error"))
        if props["services"] and props.get("assume_role_policy"):
            out.append((("assume_role_policy",), "give services or assume_role_policy, not both", "error"))
        for name, document in props["policies"].items():
            out.extend(self.lint(document, ("policies", name), spec, resource_policy=False))
        for index, grant in enumerate(props["grants"]):
            kind, ref = grant_target(grant)
            levels = ACCESS_LEVELS[kind]
            if grant["access"] not in levels:
                out.append((("grants", index, "access"), f"access '{grant['access']}' does not apply to {kind}; "
                                                         f"use one of: {', '.join(levels)}", "error"))
            if "prefix" in grant and kind != "s3_buckets":
                out.append((("grants", index, "prefix"), "prefix only applies to s3_bucket grants", "error"))
            target = spec.nodes.get(ref.address)
            if grant["access"] == "stream" and target is not None and target.props.get("stream") == "disabled":
                out.append((("grants", index, "access"), f"table {target.name} has no stream (set stream:)", "error"))
        if not any(s == "error" for _, _, s in out) and props["grants"]:
            # the compiled actions and resources are fixed per access level (tests run parliament over them)
            document = {"Statement": compile_grants(props["grants"], spec)}
            out.extend((("grants",) + path, message, severity)
                       for path, message, severity in lint_statements(document))
        return out

    def dependencies(self, node, spec, referenced):
        """IAM accepts ARNs of resources that do not exist yet: a grant on a bucket, queue, table, topic,
        log group or function need not wait for it (so a function may read the bucket that notifies it).
        A KMS key's ARN is only known once it exists, so grants wait for keys, including the keys that
        encrypt their targets."""
        elsewhere = {ref.address for _, ref in find_refs({k: v for k, v in node.props.items() if k != "grants"})}
        needed = set(referenced)
        for grant in node.props["grants"]:
            kind, ref = grant_target(grant)
            target = spec.nodes.get(ref.address)
            if target is None:
                continue
            if kind in PREDICTABLE_ARNS and ref.address not in elsewhere:
                needed.discard(ref.address)
            key = encryption_key(target)
            if key is not None and key.address in spec.nodes:
                needed.add(key.address)
        return needed

    def predicted_outputs(self, node, ctx):
        """A role's ARN holds its path as well as its name (so the base arn(name) does not apply)."""
        return {"name": node.physical_name,
                "arn": f"arn:{ctx.aws.partition}:iam::{ctx.account_id}:role{node.props['path']}{node.physical_name}"}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        trust = props.get("assume_role_policy") or {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": sorted(props["services"])},
                           "Action": "sts:AssumeRole"}]}
        inline = {name: strip_lint_keys(doc) for name, doc in props["policies"].items()}
        if props["grants"]:
            inline[GRANTS_POLICY] = {"Version": "2012-10-17",
                                     "Statement": compile_grants(props["grants"], ctx.spec)}
        return {
            "path": props["path"],
            "description": props["description"],
            "max_session_duration": props["max_session_duration"],
            "permissions_boundary": props.get("permissions_boundary"),
            "trust_policy": None,
            "inline_policies": {},
            "managed_policies": sorted(props["managed_policies"]),
            "_trust_document": strip_lint_keys(trust),
            "_inline_documents": inline,
        }

    def normalize(self, desired):
        return {**desired,
                "trust_policy": canonical_policy(desired["_trust_document"]),
                "inline_policies": {n: canonical_policy(d) for n, d in desired["_inline_documents"].items()}}

    # --- read ---
    def read(self, node, ctx):
        role = self._account_role(ctx, node.physical_name)
        if role is None:
            return None
        tags = tags_from_list(role.get("Tags"))
        props = {
            "path": role["Path"],
            "description": role.get("Description", ""),
            "max_session_duration": role.get("MaxSessionDuration", 3600),
            "permissions_boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
            "trust_policy": canonical_policy(_document(role["AssumeRolePolicyDocument"])),
            "inline_policies": {p["PolicyName"]: canonical_policy(_document(p["PolicyDocument"]))
                                for p in role["RolePolicyList"]},
            "managed_policies": sorted(p["PolicyArn"] for p in role["AttachedManagedPolicies"]),
            "tags": tags,
        }
        return Observed(props, {"arn": role["Arn"], "name": role["RoleName"], "id": role["RoleId"]}, tags)

    # --- write ---
    def create(self, node, desired, ctx):
        name = node.physical_name
        request = {"RoleName": name, "Path": desired["path"], "Description": desired["description"],
                   "AssumeRolePolicyDocument": policy_json(desired["_trust_document"]),
                   "MaxSessionDuration": desired["max_session_duration"],
                   "Tags": self.tag_api.format(desired["tags"])}
        if desired["permissions_boundary"]:
            request["PermissionsBoundary"] = desired["permissions_boundary"]
        role = (yield Call("iam", "create_role", request))["Role"]
        # independent of each other; IAM's write cap (aws.WRITE_CAPS) still holds
        yield Together((*(_put_policy(name, policy_name, document)
                          for policy_name, document in sorted(desired["_inline_documents"].items())),
                        *(Call("iam", "attach_role_policy", {"RoleName": name, "PolicyArn": arn})
                          for arn in desired["managed_policies"])))
        return {"arn": role["Arn"], "id": role["RoleId"]}

    def _update_trust_policy(self, node, desired, actual, fields, ctx):
        yield Call("iam", "update_assume_role_policy", {"RoleName": node.physical_name,
                                                        "PolicyDocument": policy_json(desired["_trust_document"])})

    def _update_role(self, node, desired, actual, fields, ctx):
        yield Call("iam", "update_role", {"RoleName": node.physical_name, "Description": desired["description"],
                                          "MaxSessionDuration": desired["max_session_duration"]})

    def _update_permissions_boundary(self, node, desired, actual, fields, ctx):
        name = node.physical_name
        if desired["permissions_boundary"]:
            yield Call("iam", "put_role_permissions_boundary",
                       {"RoleName": name, "PermissionsBoundary": desired["permissions_boundary"]})
        else:
            yield Call("iam", "delete_role_permissions_boundary", {"RoleName": name})

    def _update_inline_policies(self, node, desired, actual, fields, ctx):
        name, have = node.physical_name, actual.props["inline_policies"]
        for policy_name, document in sorted(desired["_inline_documents"].items()):
            if have.get(policy_name) != desired["inline_policies"][policy_name]:
                yield _put_policy(name, policy_name, document)
        for policy_name in sorted(set(have) - set(desired["inline_policies"])):
            yield Call("iam", "delete_role_policy", {"RoleName": name, "PolicyName": policy_name})

    def _update_managed_policies(self, node, desired, actual, fields, ctx):
        name, have = node.physical_name, set(actual.props["managed_policies"])
        for arn in sorted(set(desired["managed_policies"]) - have):
            yield Call("iam", "attach_role_policy", {"RoleName": name, "PolicyArn": arn})
        for arn in sorted(have - set(desired["managed_policies"])):
            yield Call("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": arn})

    # --- delete / discover ---
    def delete(self, resource, ctx):
        name = resource.physical_id
        role = self._account_role(ctx, name) or self._fetch_role(ctx, name)   # made after this run listed roles
        if role is None:
            return
        try:
            yield from _delete_role(role)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "DeleteConflict":
                raise
            role = self._fetch_role(ctx, name)   # attached to since this run listed it: look again
            if role is not None:
                yield from _delete_role(role)

    def discover(self, ctx):
        """Roles whose name carries the project prefix (or that the spec names), checked by their tags,
        which the run's account-wide role listing carries."""
        roles, in_one_listing_only = _account_roles(ctx)
        roles = {**roles, **{name: role for name in sorted(in_one_listing_only)
                             if (role := self._account_role(ctx, name)) is not None}}
        return self.owned_among(ctx, [(name, role["Arn"]) for name, role in roles.items()],
                                lambda name, _: tags_from_list(roles[name].get("Tags")))

    def _account_role(self, ctx, name: str) -> dict | None:
        roles, in_one_listing_only = _account_roles(ctx)
        if name in in_one_listing_only:
            return self._fetch_role(ctx, name)
        return roles.get(name)

    def _fetch_role(self, ctx, name: str) -> dict | None:
        """One role in the shape of the account listing (a RoleDetail plus ListRoles' fields), read by name."""
        client = ctx.client("iam")

        def listed(operation, key):
            return [item for page in client.get_paginator(operation).paginate(RoleName=name) for item in page[key]]

        existing = self.get(ctx, "get_role", RoleName=name)
        if existing is None:
            return None
        try:
            found = ctx.concurrently({
                "inline": lambda: listed("list_role_policies", "PolicyNames"),
                "managed": lambda: listed("list_attached_role_policies", "AttachedPolicies"),
                "profiles": lambda: listed("list_instance_profiles_for_role", "InstanceProfiles"),
            })
            documents = ctx.concurrently({
                policy_name: lambda policy_name=policy_name: client.get_role_policy(
                    RoleName=name, PolicyName=policy_name)["PolicyDocument"]
                for policy_name in found["inline"]})
        except botocore.exceptions.ClientError as exc:
            if is_not_found(exc, *self.missing):   # deleted meanwhile
                return None
            raise
        return {**existing["Role"],
                "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in documents.items()],
                "AttachedManagedPolicies": found["managed"], "InstanceProfileList": found["profiles"]}


def _put_policy(role_name: str, policy_name: str, document: dict) -> Call:
    return Call("iam", "put_role_policy", {"RoleName": role_name, "PolicyName": policy_name,
                                           "PolicyDocument": policy_json(document)})


def _account_roles(ctx) -> tuple[dict, set]:
    """Every role of the account by name, listed once per run: GetAccountAuthorizationDetails gives each
    role's trust policy, inline policies with their documents, managed policies, boundary, tags and
    instance profiles; ListRoles adds the description and session duration it leaves out. Two paginated
    passes (1,000 roles a page) instead of 3 + one per inline policy calls for every role read, and no
    ListRoleTags per candidate in discovery. A role in only one of the two listings (created or deleted
    between them) is left out here and fetched on its own by IamRoles._account_role."""
    def load():
        client = ctx.client("iam")

        def listed(operation, key, **kwargs):
            pages = client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"PageSize": 1000})
            return {role["RoleName"]: role for page in pages for role in page[key]}

        with concurrent.futures.ThreadPoolExecutor(1) as beside:
            summaries = beside.submit(listed, "list_roles", "Roles")
            details = listed("get_account_authorization_details", "RoleDetailList", Filter=["Role"])
            summaries = summaries.result()
        return {name: {**summaries[name], **detail} for name, detail in details.items() if name in summaries}, \
            set(details) ^ set(summaries)
    return ctx.memo("iam_roles", load)


def _delete_role(role: dict):
    """Take off what IAM wants gone before DeleteRole, then delete it; anything already gone is fine."""
    name = role["RoleName"]
    yield Together((   # independent of each other; IAM's write cap (aws.WRITE_CAPS) still holds
        *(Call("iam", "delete_role_policy", {"RoleName": name, "PolicyName": p["PolicyName"]}, missing_ok=True)
          for p in role["RolePolicyList"]),
        *(Call("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": p["PolicyArn"]}, missing_ok=True)
          for p in role["AttachedManagedPolicies"]),
        *(Call("iam", "remove_role_from_instance_profile",
               {"InstanceProfileName": p["InstanceProfileName"], "RoleName": name}, missing_ok=True)
          for p in role.get("InstanceProfileList", [])),
    ))
    if role.get("PermissionsBoundary"):
        yield Call("iam", "delete_role_permissions_boundary", {"RoleName": name}, missing_ok=True)
    yield Call("iam", "delete_role", {"RoleName": name}, missing_ok=True)
