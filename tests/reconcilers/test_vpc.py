"""VPCs against moto in-process: quartet, DNS drift, endpoint policy and subnets changed out of band,
subnet and VPC replacement, ownership, destroy, and the checks on CIDR blocks and zones."""
from __future__ import annotations

import json
import textwrap

import pytest

from provisioner.engine.plan import ABSENT, REPLACE
from provisioner.errors import SpecError
from provisioner.policy.canonical import canonical_policy
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import assert_diff, assert_repaired, diffs_by_path, only_change, run_quartet

ACCOUNT = "123456789012"
VPC = "vpcs.main"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/shop-dev-"

SPEC = """
    version: 1
    project: shop
    environment: dev
    tags:
      Owner: platform
    kms_keys:
      data: {deletion_window_days: 7}
    dynamodb_tables:
      users:
        partition_key: {name: id, type: S}
      orders:
        partition_key: {name: id, type: S}
        global_indexes:
          by-user: {partition_key: {name: user_id, type: S}}
      products:
        partition_key: {name: id, type: S}
        kms_key: data
    vpcs:
      main:
        cidr: 10.0.0.0/16
        private_subnets:
          a: {cidr: 10.0.0.0/24, availability_zone: us-east-1a}
          b: {cidr: 10.0.1.0/24, availability_zone: us-east-1b}
        gateway_endpoints:
          dynamodb:
            tables: [users, orders, products]
            access: read_write
"""


def tags_of(item) -> dict:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def our_vpc(ec2) -> dict | None:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:provisioner:resource", "Values": [VPC]}])["Vpcs"]
    assert len(vpcs) <= 1, vpcs
    return vpcs[0] if vpcs else None


def subnets(ec2, vpc_id) -> dict:
    """Spec key -> subnet."""
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    return {tags_of(s)["provisioner:subnet"]: s for s in found}


def route_tables(ec2, vpc_id) -> dict:
    """Spec key -> route table (the VPC's main table, which has no key, left out)."""
    found = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    return {tags_of(t)["provisioner:subnet"]: t for t in found if "provisioner:subnet" in tags_of(t)}


def live_endpoints(ec2, vpc_id) -> list:
    found = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    return [e for e in found if e["State"].lower() not in ("deleting", "deleted")]


def associated_subnets(table) -> set:
    return {a["SubnetId"] for a in table["Associations"] if not a.get("Main")}


def dns(ec2, vpc_id) -> tuple:
    return (ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"],
            ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"])


@pytest.fixture
def applied(aws, write_spec, engine):
    """The spec applied; returns (engine, ec2 client, vpc id)."""
    eng = engine(write_spec(SPEC))
    eng.apply()
    ec2 = aws("ec2")
    return eng, ec2, our_vpc(ec2)["VpcId"]


def test_quartet(aws, write_spec, engine):
    eng = engine(write_spec(SPEC))
    run_quartet(eng)
    ec2 = aws("ec2")
    vpc = our_vpc(ec2)
    vpc_id = vpc["VpcId"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert dns(ec2, vpc_id) == (True, True)
    assert tags_of(vpc) == {"Name": "shop-dev-main", "Owner": "platform", "Project": "shop", "Environment": "dev",
                            "ManagedBy": "provisioner", "provisioner:project": "shop",
                            "provisioner:environment": "dev", "provisioner:resource": VPC}

    found = subnets(ec2, vpc_id)
    assert {k: (s["CidrBlock"], s["AvailabilityZone"]) for k, s in found.items()} == {
        "a": ("10.0.0.0/24", "us-east-1a"), "b": ("10.0.1.0/24", "us-east-1b")}
    assert tags_of(found["a"])["Name"] == "shop-dev-main-a"
    assert tags_of(found["a"])["provisioner:resource"] == VPC
    assert not found["a"]["MapPublicIpOnLaunch"]
    tables = route_tables(ec2, vpc_id)
    assert {k: associated_subnets(t) for k, t in tables.items()} == {k: {s["SubnetId"]} for k, s in found.items()}
    assert all(tags_of(t)["provisioner:environment"] == "dev" for t in tables.values())
    assert not ec2.describe_internet_gateways()["InternetGateways"]

    [endpoint] = live_endpoints(ec2, vpc_id)
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["ServiceName"] == "com.amazonaws.us-east-1.dynamodb"
    assert sorted(endpoint["RouteTableIds"]) == sorted(t["RouteTableId"] for t in tables.values())
    assert tags_of(endpoint)["Name"] == "shop-dev-main-dynamodb"
    assert tags_of(endpoint)["provisioner:resource"] == VPC
    statements = json.loads(endpoint["PolicyDocument"])["Statement"]
    assert all(s["Principal"] == "*" and s["Effect"] == "Allow" for s in statements)
    resources = sorted(r for s in statements for r in s["Resource"])
    assert resources == [TABLE_ARN + "orders", TABLE_ARN + "orders/index/*", TABLE_ARN + "products",
                         TABLE_ARN + "users"]
    actions = {a for s in statements for a in s["Action"]}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem"} <= actions
    assert all(a.startswith("dynamodb:") for a in actions)   # the products key is not reached through it

    outputs = eng.last_ctx.outputs[VPC]
    assert outputs["id"] == vpc_id
    assert outputs["arn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{vpc_id}"
    assert outputs["subnet_ids"] == [found["a"]["SubnetId"], found["b"]["SubnetId"]]
    assert outputs["route_table_ids"] == [tables["a"]["RouteTableId"], tables["b"]["RouteTableId"]]
    assert outputs["endpoint_ids"] == [endpoint["VpcEndpointId"]]


def test_outputs_are_referenceable(aws, write_spec, engine):
    eng = engine(write_spec(SPEC + """
    sqs_queues:
      jobs:
        tags: {Vpc: "${vpcs.main.id}", Cidr: "${vpcs.main.cidr}"}
    """))
    eng.apply()
    assert not eng.plan().has_changes
    sqs = aws("sqs")
    tags = sqs.list_queue_tags(QueueUrl=sqs.get_queue_url(QueueName="shop-dev-jobs")["QueueUrl"])["Tags"]
    assert tags["Vpc"] == our_vpc(aws("ec2"))["VpcId"]
    assert tags["Cidr"] == "10.0.0.0/16"


@pytest.mark.parametrize("support, hostnames, diffs", [
    (True, False, {"dns_hostnames": (False, True)}),
    (False, False, {"dns_support": (False, True), "dns_hostnames": (False, True)}),
])
def test_dns_attribute_drift_is_repaired(applied, support, hostnames, diffs):
    eng, ec2, vpc_id = applied
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": hostnames})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": support})

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == diffs

    assert_repaired(eng)
    assert dns(ec2, vpc_id) == (True, True)


def test_dns_hostnames_turned_off_in_the_spec_is_one_call(applied, write_spec):
    eng, ec2, vpc_id = applied
    write_spec(SPEC.replace("cidr: 10.0.0.0/16", "cidr: 10.0.0.0/16\n        dns_hostnames: false"))

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == {"dns_hostnames": (True, False)}
    assert_repaired(eng)
    assert dns(ec2, vpc_id) == (True, False)


def test_endpoint_policy_changed_out_of_band_is_named_and_repaired(applied):
    eng, ec2, vpc_id = applied
    [endpoint] = live_endpoints(ec2, vpc_id)
    ours = canonical_policy(endpoint["PolicyDocument"])
    wide = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}]}
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], PolicyDocument=json.dumps(wide))

    change = only_change(eng.plan(), VPC)
    paths = diffs_by_path(change)
    assert paths, change
    assert all(p.startswith("gateway_endpoints.dynamodb.policy.Statement.") for p in paths), paths
    assert_diff(change, "gateway_endpoints.dynamodb.policy.Statement.TableUsersReadWrite", ABSENT,
                ours["Statement"]["TableUsersReadWrite"])

    assert_repaired(eng)
    [repaired] = live_endpoints(ec2, vpc_id)
    assert repaired["VpcEndpointId"] == endpoint["VpcEndpointId"]
    assert canonical_policy(repaired["PolicyDocument"]) == ours


def test_endpoint_detached_from_a_route_table_is_repaired(applied):
    eng, ec2, vpc_id = applied
    [endpoint] = live_endpoints(ec2, vpc_id)
    table_b = route_tables(ec2, vpc_id)["b"]["RouteTableId"]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], RemoveRouteTableIds=[table_b])

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == {"gateway_endpoints.dynamodb.route_tables": (["a"], ["a", "b"])}
    assert_repaired(eng)
    assert table_b in live_endpoints(ec2, vpc_id)[0]["RouteTableIds"]


def test_subnet_deleted_out_of_band_is_recreated(applied):
    eng, ec2, vpc_id = applied
    before = subnets(ec2, vpc_id)["b"]["SubnetId"]
    table_b = route_tables(ec2, vpc_id)["b"]["RouteTableId"]
    ec2.delete_subnet(SubnetId=before)

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == {
        "private_subnets.b.cidr": (None, "10.0.1.0/24"),
        "private_subnets.b.availability_zone": (None, "us-east-1b"),
        "private_subnets.b.route_table": ("not associated", "associated")}

    assert_repaired(eng)
    after = subnets(ec2, vpc_id)["b"]
    assert after["SubnetId"] != before and after["CidrBlock"] == "10.0.1.0/24"
    assert after["SubnetId"] in associated_subnets(route_tables(ec2, vpc_id)["b"])
    assert route_tables(ec2, vpc_id)["b"]["RouteTableId"] == table_b     # the endpoint's table is kept


def test_route_table_association_removed_out_of_band_is_repaired(applied):
    eng, ec2, vpc_id = applied
    table = route_tables(ec2, vpc_id)["a"]
    [association] = [a for a in table["Associations"] if not a.get("Main")]
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == {"private_subnets.a.route_table": ("not associated", "associated")}
    assert_repaired(eng)
    assert associated_subnets(route_tables(ec2, vpc_id)["a"]) == {subnets(ec2, vpc_id)["a"]["SubnetId"]}


def test_tag_drift_is_repaired(applied):
    eng, ec2, vpc_id = applied
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Owner", "Value": "someone"}, {"Key": "Extra", "Value": "x"}])

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == {"tags.Owner": ("someone", "platform"), "tags.Extra": ("x", ABSENT)}
    assert_repaired(eng)
    assert tags_of(our_vpc(ec2))["Owner"] == "platform"
    assert "Extra" not in tags_of(our_vpc(ec2))


def test_subnet_cidr_changed_in_the_spec_replaces_only_that_subnet(applied, write_spec):
    eng, ec2, vpc_id = applied
    before = subnets(ec2, vpc_id)
    write_spec(SPEC.replace("10.0.1.0/24", "10.0.1.0/25"))

    change = only_change(eng.plan(), VPC)
    assert diffs_by_path(change) == {"private_subnets.b.cidr": ("10.0.1.0/24", "10.0.1.0/25")}
    assert_repaired(eng)
    after = subnets(ec2, vpc_id)
    assert our_vpc(ec2)["VpcId"] == vpc_id
    assert after["a"]["SubnetId"] == before["a"]["SubnetId"]
    assert after["b"]["SubnetId"] != before["b"]["SubnetId"] and after["b"]["CidrBlock"] == "10.0.1.0/25"
    assert after["b"]["SubnetId"] in associated_subnets(route_tables(ec2, vpc_id)["b"])


def test_subnet_removed_from_the_spec_is_deleted_with_its_route_table(applied, write_spec):
    eng, ec2, vpc_id = applied
    write_spec(SPEC.replace("          b: {cidr: 10.0.1.0/24, availability_zone: us-east-1b}\n", ""))

    change = only_change(eng.plan(), VPC)
    assert_diff(change, "gateway_endpoints.dynamodb.route_tables", ["a", "b"], ["a"])
    assert diffs_by_path(change)["private_subnets.b"][1] is ABSENT
    assert_repaired(eng)
    assert set(subnets(ec2, vpc_id)) == {"a"}
    assert set(route_tables(ec2, vpc_id)) == {"a"}
    assert live_endpoints(ec2, vpc_id)[0]["RouteTableIds"] == [route_tables(ec2, vpc_id)["a"]["RouteTableId"]]


def test_cidr_change_replaces_the_vpc(applied, write_spec):
    eng, ec2, vpc_id = applied
    write_spec(SPEC.replace("10.0.", "10.1."))

    change = only_change(eng.plan(), VPC, REPLACE)
    assert_diff(change, "cidr", "10.0.0.0/16", "10.1.0.0/16")
    assert_repaired(eng)
    vpc = our_vpc(ec2)
    assert vpc["VpcId"] != vpc_id and vpc["CidrBlock"] == "10.1.0.0/16"
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    assert len(live_endpoints(ec2, vpc["VpcId"])) == 1


def test_untagged_vpc_with_our_name_is_ignored_and_survives_destroy(aws, write_spec, engine):
    ec2 = aws("ec2")
    decoy = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "shop-dev-main"}]}])["Vpc"]["VpcId"]
    eng = engine(write_spec(SPEC))

    plan = eng.plan()
    assert {c.address: c.action for c in plan.pending}[VPC] == "create"
    eng.apply()
    assert our_vpc(ec2)["VpcId"] != decoy
    assert not eng.plan().has_changes

    eng.destroy()
    assert our_vpc(ec2) is None
    assert ec2.describe_vpcs(VpcIds=[decoy])["Vpcs"][0]["State"] == "available"
    assert tags_of(ec2.describe_vpcs(VpcIds=[decoy])["Vpcs"][0]) == {"Name": "shop-dev-main"}


def test_destroy_removes_every_ec2_object_it_created(applied):
    eng, ec2, vpc_id = applied
    subnet_ids = [s["SubnetId"] for s in subnets(ec2, vpc_id).values()]
    table_ids = [t["RouteTableId"] for t in route_tables(ec2, vpc_id).values()]
    [endpoint] = live_endpoints(ec2, vpc_id)

    plan, outcomes = eng.destroy()
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]
    assert VPC in {c.address for c in plan.changes}
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    assert not ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": subnet_ids}])["Subnets"]
    assert not ec2.describe_route_tables(Filters=[{"Name": "route-table-id", "Values": table_ids}])["RouteTables"]
    assert not live_endpoints(ec2, vpc_id)
    assert not [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                if e["VpcEndpointId"] == endpoint["VpcEndpointId"] and e["State"].lower() != "deleted"]
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:provisioner:project", "Values": ["shop"]}])["Vpcs"]


def test_s3_endpoint_allows_exactly_the_buckets(aws, write_spec, engine):
    eng = engine(write_spec("""
        version: 1
        project: shop
        environment: dev
        s3_buckets:
          uploads: {}
        vpcs:
          main:
            cidr: 10.2.0.0/20
            dns_hostnames: false
            private_subnets:
              only: {cidr: 10.2.0.0/28, availability_zone: us-east-1c}
            gateway_endpoints:
              s3: {buckets: [uploads], access: read}
    """))
    run_quartet(eng)
    ec2 = aws("ec2")
    vpc_id = our_vpc(ec2)["VpcId"]
    assert dns(ec2, vpc_id) == (True, False)
    [endpoint] = live_endpoints(ec2, vpc_id)
    assert endpoint["ServiceName"] == "com.amazonaws.us-east-1.s3"
    bucket = f"arn:aws:s3:::shop-dev-uploads-{ACCOUNT}"
    statements = {s["Sid"]: s for s in json.loads(endpoint["PolicyDocument"])["Statement"]}
    assert {sid: (sorted(s["Action"]), s["Resource"]) for sid, s in statements.items()} == {
        "ObjectsUploadsRead": (["s3:GetObject", "s3:GetObjectVersion"], [bucket + "/*"]),
        "ListUploads": (["s3:ListBucket"], [bucket])}


# --- validation: every problem with its line and path, before any AWS call ---

HEADER = "version: 1\nproject: shop\nenvironment: dev\n"
VALID_BODY = """
    dynamodb_tables:
      users: {partition_key: {name: id, type: S}}
    vpcs:
      main:
        cidr: 10.0.0.0/16
        private_subnets:
          a: {cidr: 10.0.0.0/24, availability_zone: us-east-1a}
          b: {cidr: 10.0.1.0/24, availability_zone: us-east-1b}
        gateway_endpoints:
          dynamodb: {tables: [users], access: read}
"""


def load(body: str):
    return load_spec("spec.yaml", default_registry(), text=HEADER + textwrap.dedent(body).lstrip("\n"))


@pytest.mark.parametrize("old, new, line, path, message", [
    ("10.0.1.0/24", "10.0.0.128/25", 11, "vpcs.main.private_subnets.b.cidr", "overlaps private_subnets.a"),
    ("10.0.1.0/24", "10.1.0.0/24", 11, "vpcs.main.private_subnets.b.cidr", "is not inside the VPC's cidr 10.0.0.0/16"),
    ("cidr: 10.0.0.0/16", "cidr: 10.0.0.1/16", 8, "vpcs.main.cidr", "did you mean 10.0.0.0/16?"),
    ("cidr: 10.0.0.0/16", "cidr: 10.0.0.0/8", 8, "vpcs.main.cidr", "AWS allows /16 to /28"),
    ("10.0.1.0/24", "10.0.1.0/29", 11, "vpcs.main.private_subnets.b.cidr", "AWS allows /16 to /28"),
    ("10.0.1.0/24", "10.0.300.0/24", 11, "vpcs.main.private_subnets.b.cidr", "not a valid IPv4 CIDR block"),
    ("us-east-1b", "eu-west-1b", 11, "vpcs.main.private_subnets.b.availability_zone",
     "not an availability zone of the spec's region us-east-1"),
    ("cidr: 10.0.0.0/16", "cidr: 10.0.0.0/16\n        dns_support: false", 7, "vpcs.main.dns_hostnames",
     "need dns_support: true"),
    ("tables: [users]", "tables: [accounts]", 13, "vpcs.main.gateway_endpoints.dynamodb.tables[0]",
     "no resource 'accounts' in dynamodb_tables"),
])
def test_invalid_network_is_rejected_with_line_and_path(old, new, line, path, message):
    assert old in VALID_BODY
    with pytest.raises(SpecError) as raised:
        load(VALID_BODY.replace(old, new))
    found = [(d.line, d.path, d.message) for d in raised.value.diagnostics]
    assert any((d_line, d_path) == (line, path) and message in d_message
               for d_line, d_path, d_message in found), found


def test_valid_body_loads():
    assert "vpcs.main" in load(VALID_BODY).nodes


def test_an_endpoint_policy_with_resource_star_is_rejected():
    """The grants compiler gives Resource "*" only for ListStreams (access stream, which the schema does not
    offer an endpoint): validate still refuses such a policy rather than trust the schema."""
    spec = load(VALID_BODY)
    node = spec.nodes["vpcs.main"]
    node.props["gateway_endpoints"]["dynamodb"]["access"] = "stream"
    problems = default_registry()["vpcs"].validate(node, spec)
    assert [(path, severity) for path, _, severity in problems] == [(("gateway_endpoints", "dynamodb"), "error")]
    assert "Resource '*'" in problems[0][1]
