"""CloudFront distributions in front of an S3 bucket of the spec, read through an origin access control.

The origin access control (OAC: SigV4, always signing, S3) is a facet of the distribution: named
after its physical name, created, updated and deleted with it. OACs take no tags, so their
description carries the owner and the resource address; an OAC of that name with another
description is not ours and is never used or changed. The bucket's policy gets a statement that lets
cloudfront.amazonaws.com read objects for this distribution's ARN only (a Delivery, written by the
bucket's reconciler), and a key of the spec encrypting the bucket lets CloudFront decrypt.

Distributions have random ids and no name: they are found by their ownership tags (ListDistributions
and ListTagsForResource, which work from any region; the Tagging API covers CloudFront in us-east-1
only). Every managed field lives in one DistributionConfig, written whole with the ETag of the read
before it; fields the spec does not manage are carried over as they are.
"""
from __future__ import annotations

import concurrent.futures
import copy
import re

import botocore.exceptions

from provisioner.aws.errors import error_code
from provisioner.engine.operations import Call, Wait
from provisioner.engine.ownership import OWNER_RESOURCE
from provisioner.errors import OwnershipConflict, ProvisionerError
from provisioner.services.base import NOT_RETURNED, NameRule, Observed, OwnedResource, Reconciler, listed
from provisioner.services.delivery import Delivery
from provisioner.services.tagging import TagApi
from provisioner.spec.refs import Ref, find_refs

SERVICE = "cloudfront.amazonaws.com"
ORIGIN_ID = "s3-origin"
OAC = {"signing_protocol": "sigv4", "signing_behavior": "always", "origin_type": "s3"}
COUNTRY = re.compile(r"[A-Z]{2}")
# the only method sets CloudFront accepts
ALLOWED_METHODS = ({"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"},
                   {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"})
CACHED_METHODS = ({"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"})
CONFIG_FIELDS = frozenset({"comment", "enabled", "default_root_object", "price_class", "ipv6", "origin",
                           "viewer_protocol_policy", "compress", "ttl", "allowed_methods", "cached_methods",
                           "geo_restriction"})


def _marker(owner, address: str) -> str:
    """The description of a distribution's OAC: OACs take no tags, this is how we know ours."""
    return f"{address} of {owner.project}/{owner.environment} (provisioner)"


def _items(values: list) -> dict:
    return {"Quantity": len(values), "Items": values}


class CloudFrontDistributions(Reconciler):
    kind = "cloudfront_distributions"
    service = "cloudfront"
    attributes = frozenset({"id", "arn", "domain_name"})
    name_rule = NameRule(r"[A-Za-z0-9_.-]+", 1, 64, "a CloudFront origin access control name (the distribution's "
                         "physical name)", "letters, digits, '.', '_' and '-'")
    derived_fields = frozenset({"origin_access_control"})
    missing = ("NoSuchDistribution", "NoSuchOriginAccessControl", "NoSuchResource")
    tag_api = TagApi("cloudfront", "Resource", wrapper="Items")
    updates = ((CONFIG_FIELDS | {"origin_access_control"}, "_update_distribution"),)
    rank = 35
    delete_tier = 2

    # --- spec time ---
    def dependencies(self, node, spec, referenced):
        """The origin's domain name follows from the bucket's name, while the bucket's policy names this
        distribution's ARN (known once it exists): the distribution comes first."""
        bucket = node.props["origin"]["s3_bucket"].address
        rest = {k: v for k, v in node.props.items() if k != "origin"}
        elsewhere = {ref.address for _, ref in list(find_refs(rest)) + list(find_refs(node.tags))}
        return {address for address in referenced if address != bucket or address in elsewhere}

    def validate(self, node, spec):
        props, out = node.props, []
        geo = props["geo_restriction"]
        for index, location in enumerate(geo["locations"]):
            if not COUNTRY.fullmatch(location):
                out.append((("geo_restriction", "locations", index),
                            f"'{location}' is not an ISO 3166-1 alpha-2 country code (two upper-case letters, "
                            "e.g. US)", "error"))
        if geo["type"] == "none" and geo["locations"]:
            out.append((("geo_restriction", "locations"), "type none takes no locations", "error"))
        if geo["type"] != "none" and not geo["locations"]:
            out.append((("geo_restriction", "locations"), f"a {geo['type']} needs at least one location", "error"))
        ttl = props["ttl"]
        if ttl["min"] > ttl["default"]:
            out.append((("ttl",), f"min {ttl['min']} is above default {ttl['default']}", "error"))
        if ttl["default"] > ttl["max"]:
            out.append((("ttl",), f"default {ttl['default']} is above max {ttl['max']}", "error"))
        allowed, cached = set(props["allowed_methods"]), set(props["cached_methods"])
        if allowed not in ALLOWED_METHODS:
            out.append((("allowed_methods",), "CloudFront accepts GET, HEAD; GET, HEAD, OPTIONS; or all seven "
                                              "methods", "error"))
        if cached not in CACHED_METHODS:
            out.append((("cached_methods",), "CloudFront caches GET, HEAD or GET, HEAD, OPTIONS", "error"))
        elif not cached <= allowed:
            out.append((("cached_methods",), f"{', '.join(sorted(cached - allowed))} cached but not in "
                                             "allowed_methods", "error"))
        return out

    def deliveries(self, node, spec):
        """CloudFront reads the bucket: its policy admits this distribution (and its key lets CloudFront
        decrypt)."""
        return [Delivery(node.props["origin"]["s3_bucket"].address, SERVICE, node.address,
                         Ref(node.address, "arn"))]

    def predicted_outputs(self, node, ctx):
        return {}   # id, ARN and domain name are chosen by CloudFront

    def _outputs(self, distribution: dict, oac_id) -> dict:
        return {"id": distribution["Id"], "arn": distribution["ARN"], "domain_name": distribution["DomainName"],
                "_physical_id": distribution["Id"], "_oac_id": oac_id}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        geo = props["geo_restriction"]
        return {
            "comment": props["comment"],
            "enabled": props["enabled"],
            "default_root_object": props["default_root_object"],
            "price_class": props["price_class"],
            "ipv6": props["ipv6"],
            "origin": {"domain_name": Ref(props["origin"]["s3_bucket"].address, "regional_domain_name"),
                       "origin_access_control": node.physical_name},
            "origin_access_control": dict(OAC),
            "viewer_protocol_policy": props["viewer_protocol_policy"],
            "compress": props["compress"],
            "ttl": dict(props["ttl"]),
            "allowed_methods": sorted(props["allowed_methods"]),
            "cached_methods": sorted(props["cached_methods"]),
            "geo_restriction": {"type": geo["type"], "locations": sorted(geo["locations"])},
        }

    # --- read ---
    def _owned(self, ctx) -> list[tuple[dict, dict]]:
        """(summary, tags) of every distribution of the account that carries our ownership tags; listed
        once per run for the reads and the discovery."""
        return ctx.memo("cloudfront_distributions", lambda: self._list_owned(ctx))

    def _list_owned(self, ctx) -> list[tuple[dict, dict]]:
        client = ctx.client("cloudfront")
        summaries = [item for page in client.get_paginator("list_distributions").paginate()
                     for item in page["DistributionList"].get("Items") or []]
        with concurrent.futures.ThreadPoolExecutor(ctx.options.read_parallelism) as pool:   # no tags listed
            found = list(pool.map(lambda summary: self.read_tags(ctx, summary["ARN"]), summaries))
        return [(summary, tags) for summary, tags in zip(summaries, found, strict=True)
                if ctx.owner.owns(tags)]

    def _oacs(self, client) -> list[dict]:
        return [item for page in client.get_paginator("list_origin_access_controls").paginate()
                for item in page["OriginAccessControlList"].get("Items") or []]

    @staticmethod
    def _listed_oacs():
        """yield from: the origin access controls, listed by a write."""
        return listed(Call("cloudfront", "list_origin_access_controls", {}),
                      lambda page: page["OriginAccessControlList"].get("Items") or [],
                      lambda page: page["OriginAccessControlList"].get("NextMarker"), "Marker")

    def _own_oac(self, oacs: list[dict], node, ctx) -> dict | None:
        """This distribution's OAC, found by name; one of that name that is not ours is a conflict."""
        for oac in oacs:
            if oac["Name"] == node.physical_name:
                if oac.get("Description") != _marker(ctx.owner, node.address):
                    raise OwnershipConflict(
                        f"{node.address}: origin access control '{node.physical_name}' exists but is not this "
                        f"environment's (description {oac.get('Description')!r}); refusing to use or change it "
                        "(rename the distribution with name: or remove the other one)")
                return oac
        return None

    def read(self, node, ctx):
        client = ctx.client("cloudfront")
        found, tags = next(((summary, tags) for summary, tags in self._owned(ctx)
                            if tags.get(OWNER_RESOURCE) == node.address), (None, None))
        if found is None:
            self._own_oac(self._oacs(client), node, ctx)   # an OAC of our name that is not ours: refused early
            return None
        config = self.get(ctx, "get_distribution_config", Id=found["Id"])
        if config is None:
            return None
        config = config["DistributionConfig"]
        oac = self._own_oac(self._oacs(client), node, ctx)
        behavior = config["DefaultCacheBehavior"]
        methods = behavior.get("AllowedMethods", {})
        geo = config.get("Restrictions", {}).get("GeoRestriction", {})
        origins = config["Origins"].get("Items") or []
        origin = next((o for o in origins if o["Id"] == behavior["TargetOriginId"]), origins[0] if origins else {})
        warnings = []
        props = {
            "comment": config.get("Comment", ""),
            "enabled": config["Enabled"],
            "default_root_object": config.get("DefaultRootObject", ""),
            "price_class": config.get("PriceClass"),
            "ipv6": config.get("IsIPV6Enabled", False),
            "origin": {"domain_name": origin.get("DomainName"),
                       "origin_access_control": self._oac_name(ctx, origin, oac, warnings)},
            "origin_access_control": {"signing_protocol": oac["SigningProtocol"],
                                      "signing_behavior": oac["SigningBehavior"],
                                      "origin_type": oac["OriginAccessControlOriginType"]} if oac else None,
            "viewer_protocol_policy": behavior["ViewerProtocolPolicy"],
            "compress": behavior.get("Compress", False),
            "ttl": {"min": behavior.get("MinTTL"), "default": behavior.get("DefaultTTL"),
                    "max": behavior.get("MaxTTL")},
            "allowed_methods": sorted(methods.get("Items", [])),
            "cached_methods": sorted(methods.get("CachedMethods", {}).get("Items", [])),
            "geo_restriction": {"type": geo.get("RestrictionType", "none"), "locations": sorted(geo.get("Items") or [])},
            "tags": tags,
        }
        return Observed(props, self._outputs(found, oac["Id"] if oac else None), tags, warnings)

    def _oac_name(self, ctx, origin: dict, oac: dict | None, warnings: list):
        """Name of the OAC the origin signs with; an endpoint that does not report the id is not compared."""
        if "OriginAccessControlId" not in origin:
            warnings.append("origin.origin_access_control: not returned by this endpoint (GetDistributionConfig "
                            "has no OriginAccessControlId); it is set but not compared")
            return NOT_RETURNED
        oac_id = origin["OriginAccessControlId"]
        if not oac_id:
            return None
        if oac and oac["Id"] == oac_id:
            return oac["Name"]
        other = self.get(ctx, "get_origin_access_control", Id=oac_id)
        return other["OriginAccessControl"]["OriginAccessControlConfig"]["Name"] if other else oac_id

    # --- write ---
    def _ensure_oac(self, node, ctx):
        """yield from: the id of this distribution's OAC, created or brought back to sigv4/always/s3."""
        config = {"Name": node.physical_name, "Description": _marker(ctx.owner, node.address),
                  "SigningProtocol": OAC["signing_protocol"], "SigningBehavior": OAC["signing_behavior"],
                  "OriginAccessControlOriginType": OAC["origin_type"]}
        oac = self._own_oac((yield from self._listed_oacs()), node, ctx)
        if oac is None:
            created = yield Call("cloudfront", "create_origin_access_control", {"OriginAccessControlConfig": config})
            return created["OriginAccessControl"]["Id"]
        if any(oac.get(key) != config[key] for key in config):
            etag = (yield Call("cloudfront", "get_origin_access_control", {"Id": oac["Id"]}))["ETag"]
            yield Call("cloudfront", "update_origin_access_control",
                       {"Id": oac["Id"], "IfMatch": etag, "OriginAccessControlConfig": config})
        return oac["Id"]

    def _config(self, desired: dict, config: dict, oac_id: str) -> dict:
        """config (the current one, or a new one) with every managed field set to desired."""
        config = copy.deepcopy(config)
        geo = desired["geo_restriction"]
        ttl = desired["ttl"]
        config.update(Comment=desired["comment"], Enabled=desired["enabled"],
                      DefaultRootObject=desired["default_root_object"], PriceClass=desired["price_class"],
                      IsIPV6Enabled=desired["ipv6"])
        origin = {"Id": ORIGIN_ID, "DomainName": desired["origin"]["domain_name"], "OriginAccessControlId": oac_id,
                  "S3OriginConfig": {"OriginAccessIdentity": ""}}
        others = [o for o in config.get("Origins", {}).get("Items") or [] if o["Id"] != ORIGIN_ID]
        config["Origins"] = _items([origin] + others)
        behavior = config.setdefault("DefaultCacheBehavior", {})
        # the TTLs are the legacy cache settings: they exclude a cache policy
        behavior.pop("CachePolicyId", None)
        behavior.pop("OriginRequestPolicyId", None)
        behavior.setdefault("ForwardedValues", {"QueryString": False, "Cookies": {"Forward": "none"}})
        behavior.update(TargetOriginId=ORIGIN_ID, ViewerProtocolPolicy=desired["viewer_protocol_policy"],
                        Compress=desired["compress"], MinTTL=ttl["min"], DefaultTTL=ttl["default"], MaxTTL=ttl["max"],
                        AllowedMethods={**_items(desired["allowed_methods"]),
                                        "CachedMethods": _items(desired["cached_methods"])})
        restriction = {"RestrictionType": geo["type"], "Quantity": len(geo["locations"])}
        if geo["locations"]:
            restriction["Items"] = geo["locations"]
        config["Restrictions"] = {"GeoRestriction": restriction}
        return config

    def _put_config(self, dist_id: str, desired: dict, oac_id: str):
        """yield from: the distribution after its config, read with its ETag, is written with desired."""
        found = yield Call("cloudfront", "get_distribution_config", {"Id": dist_id})
        config = self._config(desired, found["DistributionConfig"], oac_id)
        return (yield Call("cloudfront", "update_distribution",
                           {"Id": dist_id, "IfMatch": found["ETag"], "DistributionConfig": config}))["Distribution"]

    def create(self, node, desired, ctx):
        oac_id = yield from self._ensure_oac(node, ctx)
        # Deterministic, so that a create retried after a crash cannot make a second distribution; the OAC id
        # makes it new after a destroy, in case CloudFront remembers the references of deleted distributions.
        reference = f"{node.physical_name}-{oac_id}"
        config = self._config(desired, {"CallerReference": reference}, oac_id)
        try:
            distribution = (yield Call("cloudfront", "create_distribution_with_tags", {"DistributionConfigWithTags": {
                "DistributionConfig": config, "Tags": self.tag_api.format(desired["tags"])}}))["Distribution"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "DistributionAlreadyExists":
                raise
            distribution = yield from self._created_before(exc, node, desired, oac_id, ctx)
        return self._outputs(distribution, oac_id)

    def _created_before(self, exc, node, desired, oac_id, ctx):
        """The distribution an earlier create of ours made with this reference (AWS names it in the
        error when the config differs): brought to desired, if its tags say it is this resource."""
        match = re.search(r"Already exists: (\w+)", str(exc))
        found = match and (yield Call("cloudfront", "get_distribution", {"Id": match.group(1)}, missing_ok=True))
        if found:
            arn = found["Distribution"]["ARN"]
            tags = self.tag_api.parse((yield Call("cloudfront", "list_tags_for_resource", {"Resource": arn})))
            if ctx.owner.owns(tags) and tags.get(OWNER_RESOURCE) == node.address:
                return (yield from self._put_config(found["Distribution"]["Id"], desired, oac_id))
        raise ProvisionerError(f"the caller reference {node.physical_name}-{oac_id} belongs to another distribution "
                               f"({exc}); refusing to adopt it") from exc

    def _update_distribution(self, node, desired, actual, fields, ctx):
        dist_id, oac_id = actual.outputs["id"], actual.outputs["_oac_id"]
        if "origin_access_control" in fields or oac_id is None:
            oac_id = yield from self._ensure_oac(node, ctx)
        if fields & CONFIG_FIELDS or oac_id != actual.outputs["_oac_id"]:
            yield from self._put_config(dist_id, desired, oac_id)
        return {"_oac_id": oac_id}

    # --- delete / discover ---
    def discover(self, ctx):
        return [OwnedResource.from_tags(self.kind, tags, summary["Id"], summary["ARN"])
                for summary, tags in self._owned(ctx)]

    def delete(self, resource, ctx):
        """Disable, wait until that is deployed (AWS deletes only disabled distributions), delete, then
        delete the OAC, which CloudFront refuses to delete while a distribution uses it."""
        dist_id = resource.physical_id
        found = yield Call("cloudfront", "get_distribution_config", {"Id": dist_id}, missing_ok=True)
        if found is not None:
            config = found["DistributionConfig"]
            if config["Enabled"]:
                yield Call("cloudfront", "update_distribution",
                           {"Id": dist_id, "IfMatch": found["ETag"], "DistributionConfig": {**config, "Enabled": False}},
                           "disable")
            yield Wait("cloudfront", "distribution_deployed", {"Id": dist_id},
                       "the disabled distribution deployed (minutes on AWS)")
            etag = (yield Call("cloudfront", "get_distribution", {"Id": dist_id}))["ETag"]
            yield Call("cloudfront", "delete_distribution", {"Id": dist_id, "IfMatch": etag}, missing_ok=True)
        marker = _marker(ctx.owner, resource.address)
        for oac in (yield from self._listed_oacs()):
            if oac.get("Description") == marker:
                etag = (yield Call("cloudfront", "get_origin_access_control", {"Id": oac["Id"]}))["ETag"]
                yield Call("cloudfront", "delete_origin_access_control", {"Id": oac["Id"], "IfMatch": etag},
                           missing_ok=True)
