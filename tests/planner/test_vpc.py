"""VPCs: the calls of a create, of each update and of a delete, on fake state."""
import copy

from botocore.stub import Stubber

from provisioner.services.base import OwnedResource
from tests.planner.conftest import From, shown

SPEC = """
version: 1
project: shop
environment: dev
dynamodb_tables:
  users: {partition_key: {name: id, type: S}}
vpcs:
  main:
    cidr: 10.0.0.0/16
    private_subnets:
      a: {cidr: 10.0.0.0/24, availability_zone: us-east-1a}
    gateway_endpoints:
      dynamodb: {tables: [users], access: read}
"""
ADDRESS = "vpcs.main"
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Name": "shop-dev-main", "Project": "shop",
             "provisioner:environment": "dev", "provisioner:project": "shop", "provisioner:resource": ADDRESS}

ENDPOINT_POLICY = ('{"Version":"2012-10-17","Statement":[{"Sid":"TableUsersRead","Effect":"Allow","Action":'
                   '["dynamodb:BatchGetItem","dynamodb:ConditionCheckItem","dynamodb:DescribeTable","dynamodb:GetItem",'
                   '"dynamodb:Query","dynamodb:Scan"],"Resource":["arn:aws:dynamodb:us-east-1:123456789012:table/'
                   'shop-dev-users"],"Principal":"*"}]}')


def tagging(resource_type: str, **extra) -> list:
    tags = {**OWNERSHIP, **extra}
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}]


def test_create_makes_the_vpc_then_its_subnet_route_table_and_endpoint(fake_state):
    state = fake_state(SPEC)
    vpc_id, subnet_id, table_id = From("CreateVpc"), From("CreateSubnet"), From("CreateRouteTable")
    part_tags = {"Name": "shop-dev-main-a", "provisioner:subnet": "a"}
    assert shown(state.creates(ADDRESS)) == [
        ("ec2:CreateVpc", {"CidrBlock": "10.0.0.0/16", "TagSpecifications": tagging("vpc")}),
        ("ec2:wait vpc_available", {"VpcIds": [vpc_id]}),
        ("ec2:ModifyVpcAttribute", {"VpcId": vpc_id, "EnableDnsHostnames": {"Value": True}}),
        ("ec2:CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.0.0/24", "AvailabilityZone": "us-east-1a",
                              "TagSpecifications": tagging("subnet", **part_tags)}),
        ("ec2:CreateRouteTable", {"VpcId": vpc_id, "TagSpecifications": tagging("route-table", **part_tags)}),
        ("ec2:wait subnet_available", {"SubnetIds": [subnet_id]}),
        ("ec2:AssociateRouteTable", {"RouteTableId": table_id, "SubnetId": subnet_id}),
        ("ec2:CreateVpcEndpoint", {
            "VpcEndpointType": "Gateway", "VpcId": vpc_id, "ServiceName": "com.amazonaws.us-east-1.dynamodb",
            "RouteTableIds": [table_id], "PolicyDocument": ENDPOINT_POLICY,
            "TagSpecifications": tagging("vpc-endpoint", Name="shop-dev-main-dynamodb")})]


def found(state) -> tuple[dict, dict]:
    """(props, outputs) of the VPC as read() finds it when it is as the spec says."""
    desired = state.desired(ADDRESS)
    parts = {"cidr": "10.0.0.0/16", "dns_support": True, "dns_hostnames": True,
             "subnets": {"a": {"id": "subnet-a", "cidr": "10.0.0.0/24", "availability_zone": "us-east-1a"}},
             "route_tables": {"a": {"id": "rtb-a", "associations": {"rtbassoc-a": "subnet-a"}}},
             "endpoints": {"dynamodb": {"id": "vpce-d", "policy": desired["gateway_endpoints"]["dynamodb"]["policy"],
                                        "route_table_ids": ["rtb-a"]}}}
    return dict(desired), {"id": "vpc-1", "_state": parts}


def test_dns_turned_on_is_support_first_then_hostnames(fake_state):
    state = fake_state(SPEC)
    props, outputs = found(state)
    actual = {**props, "dns_support": False, "dns_hostnames": False}
    assert shown(state.updates(ADDRESS, actual, outputs)) == [
        ("ec2:ModifyVpcAttribute", {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": True}}),
        ("ec2:ModifyVpcAttribute", {"VpcId": "vpc-1", "EnableDnsHostnames": {"Value": True}})]


def test_a_moved_subnet_is_replaced_and_a_stray_one_goes_with_its_route_table_last(fake_state):
    state = fake_state(SPEC)
    props, outputs = found(state)
    parts = copy.deepcopy(outputs["_state"])
    parts["subnets"]["a"]["cidr"] = "10.0.9.0/24"
    parts["subnets"]["old"] = {"id": "subnet-old", "cidr": "10.0.8.0/24", "availability_zone": "us-east-1a"}
    parts["route_tables"]["old"] = {"id": "rtb-old", "associations": {"rtbassoc-old": "subnet-old"}}
    actual = {**props, "private_subnets": {
        "a": {"cidr": "10.0.9.0/24", "availability_zone": "us-east-1a", "route_table": "associated"},
        "old": {"cidr": "10.0.8.0/24", "availability_zone": "us-east-1a", "route_table": "associated"}}}
    new_subnet = From("CreateSubnet")
    assert shown(state.updates(ADDRESS, actual, {**outputs, "_state": parts})) == [
        ("ec2:DeleteSubnet", {"SubnetId": "subnet-a"}),
        ("ec2:DeleteSubnet", {"SubnetId": "subnet-old"}),
        ("ec2:CreateSubnet", {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24", "AvailabilityZone": "us-east-1a",
                              "TagSpecifications": tagging("subnet", Name="shop-dev-main-a",
                                                           **{"provisioner:subnet": "a"})}),
        ("ec2:wait subnet_available", {"SubnetIds": [new_subnet]}),
        ("ec2:AssociateRouteTable", {"RouteTableId": "rtb-a", "SubnetId": new_subnet}),
        ("ec2:DisassociateRouteTable", {"AssociationId": "rtbassoc-old"}),
        ("ec2:DeleteRouteTable", {"RouteTableId": "rtb-old"})]


def test_tag_drift_is_a_delete_then_a_create_tags_call_and_nothing_else(fake_state):
    state = fake_state(SPEC)
    props, outputs = found(state)
    actual = {**props, "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates(ADDRESS, actual, outputs)) == [
        ("ec2:DeleteTags", {"Resources": ["vpc-1"], "Tags": [{"Key": "stray"}]}),
        ("ec2:CreateTags", {"Resources": ["vpc-1"], "Tags": [{"Key": "Project", "Value": "shop"}]})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates(ADDRESS, *found(state)) == []


def test_delete_goes_endpoints_route_tables_subnets_then_the_vpc(fake_state):
    state = fake_state(SPEC)
    ours = [{"Key": k, "Value": v} for k, v in OWNERSHIP.items()]
    in_vpc = {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]}
    with Stubber(state.ctx.client("ec2")) as stub:
        stub.add_response("describe_subnets", {"Subnets": [
            {"SubnetId": "subnet-a", "CidrBlock": "10.0.0.0/24", "AvailabilityZone": "us-east-1a", "Tags": ours}]},
            in_vpc)
        stub.add_response("describe_route_tables", {"RouteTables": [
            {"RouteTableId": "rtb-a", "Tags": ours,
             "Associations": [{"RouteTableAssociationId": "rtbassoc-a", "SubnetId": "subnet-a", "Main": False}]}]},
            in_vpc)
        stub.add_response("describe_vpc_endpoints", {"VpcEndpoints": [
            {"VpcEndpointId": "vpce-d", "ServiceName": "com.amazonaws.us-east-1.dynamodb", "State": "available",
             "RouteTableIds": ["rtb-a"], "Tags": ours}]}, in_vpc)
        operations = state.deletes("vpcs", OwnedResource("vpcs", ADDRESS, "vpc-1", "arn:aws:ec2:::vpc/vpc-1"))
    assert shown(operations) == [
        ("ec2:DeleteVpcEndpoints", {"VpcEndpointIds": ["vpce-d"]}),
        ("ec2:DisassociateRouteTable", {"AssociationId": "rtbassoc-a"}),
        ("ec2:DeleteRouteTable", {"RouteTableId": "rtb-a"}),
        ("ec2:DeleteSubnet", {"SubnetId": "subnet-a"}),
        ("ec2:DeleteVpc", {"VpcId": "vpc-1"})]
    assert [operation.missing_ok for operation in operations] == [False, True, True, True, True]
