"""DynamoDB tables as data: the spec's keys, indexes, stream and encryption in the shape of the table's
requests (CreateTable, UpdateTable), and DescribeTable's answer in the shape of desired."""
from __future__ import annotations

STREAM_VIEWS = {"keys_only": "KEYS_ONLY", "new_image": "NEW_IMAGE", "old_image": "OLD_IMAGE",
                "new_and_old_images": "NEW_AND_OLD_IMAGES"}
AWS_MANAGED_KEY = "alias/aws/dynamodb"


def desired_key(props) -> str | None:
    if props["encryption"] == "aws_owned":
        return None
    return props.get("kms_key") or AWS_MANAGED_KEY


def key(attribute: dict) -> dict:
    return {"name": attribute["name"], "type": attribute["type"]}


def projection(value) -> dict:
    if value == "all":
        return {"ProjectionType": "ALL"}
    if value == "keys_only":
        return {"ProjectionType": "KEYS_ONLY"}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(value["include"])}


def read_projection(found: dict):
    kind = found.get("ProjectionType", "ALL")
    if kind == "ALL":
        return "all"
    if kind == "KEYS_ONLY":
        return "keys_only"
    return {"include": sorted(found.get("NonKeyAttributes", []))}


def normalise_projection(value):
    if isinstance(value, dict):
        return {"include": sorted(value["include"])}
    return value


def key_schema(partition, sort) -> list:
    schema = [{"AttributeName": partition["name"], "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort["name"], "KeyType": "RANGE"})
    return schema


def index_shape(index: dict) -> tuple:
    """What an index cannot change without being created again."""
    return (index["partition_key"], index["sort_key"], index["projection"])


def attribute_definitions(desired) -> list:
    attributes = {}
    for attribute in [desired["partition_key"], desired["sort_key"]] + [
            index[k] for group in ("global_indexes", "local_indexes")
            for index in desired[group].values() for k in ("partition_key", "sort_key") if index.get(k)]:
        if attribute:
            attributes[attribute["name"]] = attribute["type"]
    return [{"AttributeName": n, "AttributeType": t} for n, t in sorted(attributes.items())]


def throughput(capacity: dict) -> dict:
    return {"ReadCapacityUnits": capacity["read_capacity"], "WriteCapacityUnits": capacity["write_capacity"]}


def global_index(name, index, provisioned) -> dict:
    spec = {"IndexName": name, "KeySchema": key_schema(index["partition_key"], index["sort_key"]),
            "Projection": projection(index["projection"])}
    if provisioned:
        spec["ProvisionedThroughput"] = throughput(index)
    return spec


def index_throughput(name, index) -> dict:
    """A GlobalSecondaryIndexUpdates item setting an index's capacity."""
    return {"Update": {"IndexName": name, "ProvisionedThroughput": throughput(index)}}


def stream_spec(desired) -> dict:
    if desired["stream"] == "disabled":
        return {"StreamEnabled": False}
    return {"StreamEnabled": True, "StreamViewType": STREAM_VIEWS[desired["stream"]]}


def sse_spec(desired) -> dict:
    if desired["kms_key"] == AWS_MANAGED_KEY:
        return {"Enabled": True, "SSEType": "KMS"}
    if desired["kms_key"]:
        return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": desired["kms_key"]}
    return {"Enabled": False}


def create_request(name, desired) -> dict:
    provisioned = desired["billing"] == "provisioned"
    request = {
        "TableName": name,
        "AttributeDefinitions": attribute_definitions(desired),
        "KeySchema": key_schema(desired["partition_key"], desired["sort_key"]),
        "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
        "TableClass": desired["table_class"],
        "DeletionProtectionEnabled": desired["deletion_protection"],
    }
    if provisioned:
        request["ProvisionedThroughput"] = throughput(desired)
    if desired["global_indexes"]:
        request["GlobalSecondaryIndexes"] = [global_index(n, i, provisioned)
                                             for n, i in desired["global_indexes"].items()]
    if desired["local_indexes"]:
        request["LocalSecondaryIndexes"] = [
            {"IndexName": n, "KeySchema": key_schema(desired["partition_key"], i["sort_key"]),
             "Projection": projection(i["projection"])} for n, i in desired["local_indexes"].items()]
    if desired["stream"] != "disabled":
        request["StreamSpecification"] = stream_spec(desired)
    if desired["kms_key"]:
        request["SSESpecification"] = sse_spec(desired)
    return request


def table_props(table: dict) -> dict:
    """Keys, billing, capacity, indexes, stream, protection and class of a DescribeTable answer."""
    billing = "on_demand" if table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST" \
        else "provisioned"
    provisioned = billing == "provisioned"
    keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}

    def typed(name):
        return {"name": name, "type": types.get(name)} if name else None

    def index_keys(index):
        schema = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
        return typed(schema.get("HASH")), typed(schema.get("RANGE"))

    def capacity(found):
        units = found.get("ProvisionedThroughput", {})
        return {"read_capacity": units.get("ReadCapacityUnits") if provisioned else None,
                "write_capacity": units.get("WriteCapacityUnits") if provisioned else None}

    global_indexes = {}
    for index in table.get("GlobalSecondaryIndexes", []):
        partition, sort = index_keys(index)
        global_indexes[index["IndexName"]] = {
            "partition_key": partition, "sort_key": sort,
            "projection": read_projection(index.get("Projection", {})), **capacity(index)}
    local_indexes = {index["IndexName"]: {"sort_key": index_keys(index)[1],
                                          "projection": read_projection(index.get("Projection", {}))}
                     for index in table.get("LocalSecondaryIndexes", [])}
    stream = table.get("StreamSpecification", {})
    return {
        "partition_key": typed(keys.get("HASH")),
        "sort_key": typed(keys.get("RANGE")),
        "billing": billing,
        **capacity(table),
        "global_indexes": global_indexes,
        "local_indexes": local_indexes,
        "stream": next((k for k, v in STREAM_VIEWS.items() if v == stream.get("StreamViewType")), "disabled")
        if stream.get("StreamEnabled") else "disabled",
        "deletion_protection": table.get("DeletionProtectionEnabled", False),
        "table_class": table.get("TableClassSummary", {}).get("TableClass", "STANDARD"),
    }
