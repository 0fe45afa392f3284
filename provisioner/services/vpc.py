"""VPCs with private subnets only, one route table per subnet, and gateway endpoints (DynamoDB, S3).

One VPC is one node: its subnets, their route tables and associations, and its endpoints are parts of
it, created with the VPC's ownership tags and found through them inside the VPC. An endpoint's policy
is compiled from grants (Principal "*"): exactly the spec's tables or buckets, never Resource "*".
"""
from __future__ import annotations

import copy
import ipaddress

from provisioner.engine.operations import Call, Wait
from provisioner.engine.ownership import OWNER_ENVIRONMENT, OWNER_PROJECT, OWNER_RESOURCE
from provisioner.errors import ProvisionerError
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.policy.grants import compile_grants
from provisioner.services.base import Observed, OwnedResource, Reconciler
from provisioner.services.tagging import TagApi, tags_from_list

SUBNET_TAG = "provisioner:subnet"   # the spec key of a subnet and of its route table
DNS = {"dns_support": ("enableDnsSupport", "EnableDnsSupport"),   # (DescribeVpcAttribute, ModifyVpcAttribute)
       "dns_hostnames": ("enableDnsHostnames", "EnableDnsHostnames")}
NEW_VPC_DNS = {"dns_support": True, "dns_hostnames": False}   # what AWS gives a VPC it creates
ENDPOINT_TARGETS = {"dynamodb": ("tables", "dynamodb_table"), "s3": ("buckets", "s3_bucket")}
PREFIXES = (16, 28)   # the block sizes AWS allows for a VPC and a subnet


def _network(text: str, path: tuple, out: list):
    """The IPv4 network of a CIDR block, or None with an error added to out."""
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError as exc:
        hint = ""
        if "host bits set" in str(exc):
            hint = f"; did you mean {ipaddress.IPv4Network(text, strict=False)}?"
        out.append((path, f"'{text}' is not a valid IPv4 CIDR block: {exc}{hint}", "error"))
        return None
    if not PREFIXES[0] <= network.prefixlen <= PREFIXES[1]:
        out.append((path, f"'{text}' is a /{network.prefixlen}; AWS allows /{PREFIXES[0]} to /{PREFIXES[1]}",
                    "error"))
        return None
    return network


class Vpcs(Reconciler):
    kind = "vpcs"
    service = "ec2"
    attributes = frozenset({"id", "arn", "name", "cidr", "subnet_ids", "route_table_ids", "endpoint_ids"})
    immutable = frozenset({"cidr"})
    tagging_type = "ec2:vpc"
    rank = 21   # before the functions that may run in its subnets, so deleted after them
    missing = ("InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound",
               "InvalidAssociationID.NotFound", "InvalidVpcEndpoint.NotFound", "InvalidVpcEndpointId.NotFound")
    # tags are read with the VPC and its parts (Describe* answers carry them)
    tag_api = TagApi("ec2", "Resources", "id", tag="create_tags", untag="delete_tags", keys_param="Tags",
                     resource_as_list=True, keys_as_tags=True)
    updates = ((frozenset(DNS), "_update_dns"), (frozenset({"private_subnets", "gateway_endpoints"}), "_update_parts"))

    # --- spec time ---
    def validate(self, node, spec):
        props, out = node.props, []
        vpc = _network(props["cidr"], ("cidr",), out)
        if props["dns_hostnames"] and not props["dns_support"]:
            out.append((("dns_hostnames",), "DNS hostnames need dns_support: true", "error"))
        seen: list = []
        for key, subnet in props["private_subnets"].items():
            path = ("private_subnets", key)
            network = _network(subnet["cidr"], path + ("cidr",), out)
            if network is not None and vpc is not None and not network.subnet_of(vpc):
                out.append((path + ("cidr",), f"{network} is not inside the VPC's cidr {vpc}", "error"))
            elif network is not None:
                out.extend((path + ("cidr",), f"{network} overlaps private_subnets.{other} ({taken})", "error")
                           for other, taken in seen if network.overlaps(taken))
                seen.append((key, network))
            zone = subnet["availability_zone"]
            if not (zone.startswith(spec.region) and len(zone) > len(spec.region)):
                out.append((path + ("availability_zone",),
                            f"'{zone}' is not an availability zone of the spec's region {spec.region}", "error"))
        for service, endpoint in props["gateway_endpoints"].items():
            out.extend((("gateway_endpoints", service), f"statement {statement['Sid']} applies to Resource '*': an "
                        "endpoint policy must name exactly the spec's resources", "error")
                       for statement in self.endpoint_policy(service, endpoint, spec)["Statement"]
                       if "*" in statement["Resource"])
        return out

    def endpoint_policy(self, service: str, endpoint: dict, spec) -> dict:
        """The grants compiler's statements on exactly these tables or buckets, for anyone inside the VPC."""
        field, target = ENDPOINT_TARGETS[service]
        grants = [{target: ref, "access": endpoint["access"]} for ref in endpoint[field]]
        # a target's KMS key is not reached through this endpoint: only the service's own actions belong here
        statements = [{**statement, "Principal": "*"} for statement in compile_grants(grants, spec)
                      if all(action.startswith(service + ":") for action in statement["Action"])]
        return {"Version": "2012-10-17", "Statement": statements}

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "cidr": node.props["cidr"]}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        return {
            "cidr": props["cidr"],
            "dns_support": props["dns_support"],
            "dns_hostnames": props["dns_hostnames"],
            "private_subnets": {key: {"cidr": subnet["cidr"], "availability_zone": subnet["availability_zone"],
                                      "route_table": "associated"}
                                for key, subnet in props["private_subnets"].items()},
            "gateway_endpoints": {service: {"policy": None, "route_tables": sorted(props["private_subnets"])}
                                  for service in props["gateway_endpoints"]},
            "_policies": {service: self.endpoint_policy(service, endpoint, ctx.spec)
                          for service, endpoint in props["gateway_endpoints"].items()},
        }

    def desired_tags(self, node, ctx):
        return {**ctx.tags_for(node), "Name": node.physical_name}

    def normalize(self, desired):
        endpoints = {service: {**endpoint, "policy": canonical_policy(desired["_policies"][service])}
                     for service, endpoint in desired["gateway_endpoints"].items()}
        return {**desired, "gateway_endpoints": endpoints}

    # --- read ---
    def read(self, node, ctx):
        ec2 = ctx.client("ec2")
        filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in (
            (OWNER_PROJECT, ctx.owner.project), (OWNER_ENVIRONMENT, ctx.owner.environment),
            (OWNER_RESOURCE, node.address))]
        vpcs = ec2.describe_vpcs(Filters=filters)["Vpcs"]
        if not vpcs:
            return None   # an untagged VPC with our Name is not ours: it is neither found nor touched
        vpc = min(vpcs, key=lambda v: v["VpcId"])   # any other copy is pruned as a leftover
        vpc_id = vpc["VpcId"]
        state = {"cidr": vpc["CidrBlock"],
                 **{field: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[key]["Value"]
                    for field, (attribute, key) in DNS.items()},
                 **self._parts(ec2, vpc_id, node.address, ctx)}
        tags = tags_from_list(vpc.get("Tags"))
        props = {"cidr": state["cidr"], "dns_support": state["dns_support"], "dns_hostnames": state["dns_hostnames"],
                 **self._part_props(state), "tags": tags}
        return Observed(props, self._outputs(vpc_id, node, state, ctx), tags)

    def _parts(self, ec2, vpc_id: str, address: str, ctx) -> dict:
        """Subnets and route tables by spec key, endpoints by service: those of this VPC tagged as ours.

        A part without its key tag is keyed by its id, so that it shows as not in the spec."""
        def ours(items):
            tagged = [(item, tags_from_list(item.get("Tags"))) for item in items]
            return [item for item, tags in tagged if ctx.owner.owns(tags) and tags.get(OWNER_RESOURCE) == address]

        def key(item, id_field):
            return tags_from_list(item.get("Tags")).get(SUBNET_TAG) or item[id_field]

        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        subnets = ours(ec2.describe_subnets(Filters=in_vpc)["Subnets"])
        tables = ours(ec2.describe_route_tables(Filters=in_vpc)["RouteTables"])
        endpoints = ours(ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"])
        return {
            "subnets": {key(s, "SubnetId"): {"id": s["SubnetId"], "cidr": s["CidrBlock"],
                                             "availability_zone": s["AvailabilityZone"]} for s in subnets},
            "route_tables": {key(t, "RouteTableId"): {
                "id": t["RouteTableId"],
                "associations": {a["RouteTableAssociationId"]: a.get("SubnetId")
                                 for a in t.get("Associations", []) if not a.get("Main")}} for t in tables},
            "endpoints": {e["ServiceName"].rsplit(".", 1)[-1]: {
                "id": e["VpcEndpointId"], "policy": canonical_policy(e.get("PolicyDocument")),
                "route_table_ids": sorted(e.get("RouteTableIds", []))}
                for e in endpoints if e["State"].lower() not in ("deleting", "deleted")},
        }

    def _part_props(self, state: dict) -> dict:
        """private_subnets and gateway_endpoints as desired() has them, from what _parts found."""
        subnets, tables = state["subnets"], state["route_tables"]
        found = {}
        for key in sorted(subnets.keys() | tables.keys()):
            subnet, table = subnets.get(key, {}), tables.get(key)
            if table is None:
                association = "missing"
            elif subnet and subnet["id"] in table["associations"].values():
                association = "associated"
            else:
                association = "not associated"
            found[key] = {"cidr": subnet.get("cidr"), "availability_zone": subnet.get("availability_zone"),
                          "route_table": association}
        key_of_table = {table["id"]: key for key, table in tables.items()}
        endpoints = {service: {"policy": endpoint["policy"],
                               "route_tables": sorted(key_of_table.get(i, i) for i in endpoint["route_table_ids"])}
                     for service, endpoint in state["endpoints"].items()}
        return {"private_subnets": found, "gateway_endpoints": endpoints}

    def _outputs(self, vpc_id: str, node, state: dict, ctx) -> dict:
        keys = [key for key in node.props["private_subnets"] if key in state["subnets"]]
        return {"id": vpc_id, "arn": ctx.aws.arn("ec2", f"vpc/{vpc_id}"), "name": node.physical_name,
                "cidr": state["cidr"],
                "subnet_ids": [state["subnets"][key]["id"] for key in keys],
                "route_table_ids": [state["route_tables"][key]["id"] for key in keys if key in state["route_tables"]],
                "endpoint_ids": [state["endpoints"][service]["id"] for service in node.props["gateway_endpoints"]
                                 if service in state["endpoints"]],
                "_physical_id": vpc_id, "_state": state}

    # --- write ---
    def create(self, node, desired, ctx):
        vpc = (yield Call("ec2", "create_vpc", {"CidrBlock": desired["cidr"],
                                                "TagSpecifications": self._tagging("vpc", desired["tags"])}))["Vpc"]
        vpc_id = vpc["VpcId"]
        if vpc["State"] != "available":
            yield Wait("ec2", "vpc_available", {"VpcIds": [vpc_id]})
        state = {"cidr": desired["cidr"], **NEW_VPC_DNS, "subnets": {}, "route_tables": {}, "endpoints": {}}
        yield from self._set_dns(vpc_id, desired, state, set(DNS))
        yield from self._converge_parts(vpc_id, node, desired, state, set(desired), ctx)
        return self._outputs(vpc_id, node, state, ctx)

    def _update_dns(self, node, desired, actual, fields, ctx):
        yield from self._set_dns(actual.outputs["id"], desired, dict(actual.props), fields)

    def _update_parts(self, node, desired, actual, fields, ctx):
        vpc_id, state = actual.outputs["id"], copy.deepcopy(actual.outputs["_state"])
        yield from self._converge_parts(vpc_id, node, desired, state, fields, ctx)
        return self._outputs(vpc_id, node, state, ctx)

    def _set_dns(self, vpc_id, desired, state, fields):
        # AWS refuses hostnames without DNS support: support is turned on first and off last
        order = ("dns_support", "dns_hostnames") if desired["dns_support"] else ("dns_hostnames", "dns_support")
        for field in order:
            if field in fields and desired[field] != state[field]:
                yield Call("ec2", "modify_vpc_attribute", {"VpcId": vpc_id, DNS[field][1]: {"Value": desired[field]}})
                state[field] = desired[field]

    def _converge_parts(self, vpc_id, node, desired, state, fields, ctx):
        """Bring subnets, route tables and endpoints from state to desired; state is updated to what now exists."""
        if "private_subnets" in fields:
            yield from self._put_subnets(vpc_id, node, desired, state)
        if "gateway_endpoints" in fields:
            yield from self._put_endpoints(vpc_id, node, desired, state, ctx)
        if "private_subnets" in fields:   # after the endpoints have let go of them
            for key in [k for k in state["route_tables"] if k not in desired["private_subnets"]]:
                yield from self._delete_route_table(state["route_tables"].pop(key))

    def _put_subnets(self, vpc_id, node, desired, state):
        """Each spec subnet with its own route table, associated; a subnet whose cidr or AZ changed is replaced."""
        wanted, subnets, tables = desired["private_subnets"], state["subnets"], state["route_tables"]
        for key, subnet in list(subnets.items()):
            want = wanted.get(key)
            if want is None or (want["cidr"], want["availability_zone"]) != (subnet["cidr"],
                                                                              subnet["availability_zone"]):
                # AWS drops the subnet's route table association with it
                yield Call("ec2", "delete_subnet", {"SubnetId": subnets.pop(key)["id"]}, missing_ok=True)
        pending = []
        for key, want in wanted.items():
            tags = {**desired["tags"], "Name": f"{node.physical_name}-{key}", SUBNET_TAG: key}
            if key not in subnets:
                made = (yield Call("ec2", "create_subnet", {
                    "VpcId": vpc_id, "CidrBlock": want["cidr"], "AvailabilityZone": want["availability_zone"],
                    "TagSpecifications": self._tagging("subnet", tags)}))["Subnet"]
                subnets[key] = {"id": made["SubnetId"], "cidr": want["cidr"],
                                "availability_zone": want["availability_zone"]}
                if made["State"] != "available":
                    pending.append(made["SubnetId"])
            if key not in tables:
                made = (yield Call("ec2", "create_route_table", {
                    "VpcId": vpc_id, "TagSpecifications": self._tagging("route-table", tags)}))["RouteTable"]
                tables[key] = {"id": made["RouteTableId"], "associations": {}}
        if pending:
            yield Wait("ec2", "subnet_available", {"SubnetIds": pending})
        for key in wanted:
            subnet_id, table = subnets[key]["id"], tables[key]
            if subnet_id not in table["associations"].values():
                association = (yield Call("ec2", "associate_route_table",
                                          {"RouteTableId": table["id"], "SubnetId": subnet_id}))["AssociationId"]
                table["associations"][association] = subnet_id

    def _put_endpoints(self, vpc_id, node, desired, state, ctx):
        table_ids = {key: table["id"] for key, table in state["route_tables"].items()}
        endpoints = state["endpoints"]
        for service, want in desired["gateway_endpoints"].items():
            ids = sorted(table_ids[key] for key in want["route_tables"] if key in table_ids)
            document = policy_json(desired["_policies"][service])
            have = endpoints.get(service)
            if have is None:
                tags = {**desired["tags"], "Name": f"{node.physical_name}-{service}"}
                made = (yield Call("ec2", "create_vpc_endpoint", {
                    "VpcEndpointType": "Gateway", "VpcId": vpc_id, "ServiceName": f"com.amazonaws.{ctx.region}.{service}",
                    "RouteTableIds": ids, "PolicyDocument": document,
                    "TagSpecifications": self._tagging("vpc-endpoint", tags)}))["VpcEndpoint"]
                endpoints[service] = {"id": made["VpcEndpointId"], "policy": want["policy"], "route_table_ids": ids}
                continue
            request = {"AddRouteTableIds": sorted(set(ids) - set(have["route_table_ids"])),
                       "RemoveRouteTableIds": sorted(set(have["route_table_ids"]) - set(ids))}
            request = {name: value for name, value in request.items() if value}
            if have["policy"] != want["policy"]:
                request["PolicyDocument"] = document
            if request:
                yield Call("ec2", "modify_vpc_endpoint", {"VpcEndpointId": have["id"], **request})
                have.update(policy=want["policy"], route_table_ids=ids)
        gone = [endpoints.pop(s)["id"] for s in sorted(endpoints) if s not in desired["gateway_endpoints"]]
        if gone:
            yield from self._delete_endpoints(gone)

    def _delete_route_table(self, table: dict):
        for association in table["associations"]:
            yield Call("ec2", "disassociate_route_table", {"AssociationId": association}, missing_ok=True)
        yield Call("ec2", "delete_route_table", {"RouteTableId": table["id"]}, missing_ok=True)

    def _delete_endpoints(self, ids: list):
        """DeleteVpcEndpoints reports failures in its answer rather than raising them."""
        answer = yield Call("ec2", "delete_vpc_endpoints", {"VpcEndpointIds": ids})
        failed = [item for item in answer.get("Unsuccessful") or []
                  if item.get("Error", {}).get("Code") not in self.missing]
        if failed:
            error = failed[0].get("Error", {})
            raise ProvisionerError(f"DeleteVpcEndpoints {failed[0].get('ResourceId')}: "
                                   f"{error.get('Code')}: {error.get('Message')}")

    def _tagging(self, resource_type: str, tags: dict) -> list:
        return [{"ResourceType": resource_type, "Tags": self.tag_api.format(tags)}]

    # --- delete / discover ---
    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.rsplit("/", 1)[-1], arn)

    def delete(self, resource, ctx):
        """Endpoints, route tables, subnets, then the VPC: each refuses to go while the next one uses it."""
        vpc_id = resource.physical_id
        parts = self._parts(ctx.client("ec2"), vpc_id, resource.address, ctx)
        if parts["endpoints"]:
            yield from self._delete_endpoints([endpoint["id"] for endpoint in parts["endpoints"].values()])
        for table in parts["route_tables"].values():
            yield from self._delete_route_table(table)
        for subnet in parts["subnets"].values():
            yield Call("ec2", "delete_subnet", {"SubnetId": subnet["id"]}, missing_ok=True)
        yield Call("ec2", "delete_vpc", {"VpcId": vpc_id}, missing_ok=True)
