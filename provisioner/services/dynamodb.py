"""DynamoDB tables: keys, billing, indexes, streams, TTL, PITR, SSE, contributor insights, protection.

Request shapes are in dynamodb_schema, the settled UpdateTable and the other table calls in dynamodb_calls,
auto scaling in dynamodb_scaling."""
from __future__ import annotations

from provisioner.aws.errors import NOT_EMULATED
from provisioner.engine.operations import Call, Wait
from provisioner.errors import RefusedError
from provisioner.services.base import NOT_RETURNED, NameRule, Observed, OwnedResource, Reconciler
from provisioner.services.dynamodb_calls import set_insights, set_pitr, set_ttl, update_table
from provisioner.services.dynamodb_scaling import desired_scaling, put_scaling, read_scaling, remove_scaling
from provisioner.services.dynamodb_schema import (
    AWS_MANAGED_KEY,
    attribute_definitions,
    create_request,
    desired_key,
    global_index,
    index_shape,
    index_throughput,
    key,
    normalise_projection,
    sse_spec,
    stream_spec,
    table_props,
    throughput,
)
from provisioner.services.tagging import TagApi


class DynamoDbTables(Reconciler):
    kind = "dynamodb_tables"
    service = "dynamodb"
    attributes = frozenset({"arn", "name", "stream_arn"})
    name_rule = NameRule(r"[A-Za-z0-9_.-]+", 3, 255, "a DynamoDB table name",
                         "letters, digits, '_', '.' and '-'")
    immutable = frozenset({"partition_key", "sort_key", "local_indexes"})
    tagging_type = "dynamodb:table"
    rank = 20
    data_bearing = True
    opt_outs = ((("point_in_time_recovery",), False, "no continuous backups (FSBP DynamoDB.2)"),
                (("encryption",), "aws_owned", "the table's key is not in KMS, so key use is neither "
                 "controlled nor audited (AWS Config dynamodb-table-encrypted-kms)"))
    missing = ("ResourceNotFoundException",)
    tag_api = TagApi("dynamodb", "ResourceArn", list="list_tags_of_resource", pages=True)
    # DynamoDB takes one kind of change per UpdateTable (throughput/billing, stream, each index create or
    # delete), each settled before the next
    updates = ((frozenset({"billing", "read_capacity", "write_capacity", "global_indexes"}), "_set_capacity"),
               (frozenset({"global_indexes"}), "_update_indexes"),
               (frozenset({"stream"}), "_set_stream"),
               (frozenset({"kms_key"}), "_set_encryption"),
               (frozenset({"table_class"}), "_set_table_class"),
               (frozenset({"deletion_protection"}), "_set_deletion_protection"),
               (frozenset({"ttl_attribute"}), "_set_ttl"),
               (frozenset({"point_in_time_recovery"}), "_set_pitr"),
               (frozenset({"contributor_insights"}), "_set_insights"),
               (frozenset({"autoscaling"}), "_set_scaling"))

    # --- spec checks ---
    def validate(self, node, spec):
        props, out = node.props, []
        provisioned = props["billing"] == "provisioned"
        if props["encryption"] == "aws_owned" and "kms_key" in props:
            out.append((("kms_key",), "a kms_key needs encryption: kms", "error"))
        for field in ("read_capacity", "write_capacity"):
            if provisioned and field not in props:
                out.append(((), f"billing: provisioned needs {field}", "error"))
            if not provisioned and field in props:
                out.append(((field,), "only valid with billing: provisioned", "error"))
        types = {}
        for path, attribute in self._key_attributes(props):
            name, kind = attribute["name"], attribute["type"]
            if name in types and types[name][1] != kind:
                out.append((path, f"attribute '{name}' is type {kind} here but {types[name][1]} at "
                                  f"{'.'.join(map(str, types[name][0]))}", "error"))
            types.setdefault(name, (path, kind))
        for index_name, index in props["global_indexes"].items():
            for field in ("read_capacity", "write_capacity"):
                if provisioned and field not in index:
                    out.append((("global_indexes", index_name), f"provisioned table: index needs {field}", "error"))
                if not provisioned and field in index:
                    out.append((("global_indexes", index_name, field), "only valid with billing: provisioned",
                                "error"))
        scaled = [((), props.get("autoscaling"))] + [(("global_indexes", n), i.get("autoscaling"))
                                                   for n, i in props["global_indexes"].items()]
        for path, scaling in scaled:
            if scaling and not provisioned:
                out.append((path + ("autoscaling",), "auto scaling needs billing: provisioned", "error"))
            for direction, config in (scaling or {}).items():
                if config["min"] > config["max"]:
                    out.append((path + ("autoscaling", direction), f"min {config['min']} is above max "
                                                                   f"{config['max']}", "error"))
        if props["local_indexes"] and "sort_key" not in props:
            out.append((("local_indexes",), "local indexes need the table to have a sort_key", "error"))
        both = set(props["global_indexes"]) & set(props["local_indexes"])
        for name in sorted(both):
            out.append((("local_indexes", name), f"index name '{name}' is also a global index", "error"))
        ttl = props.get("ttl_attribute")
        if ttl and ttl in types and types[ttl][1] != "N":
            out.append((("ttl_attribute",), f"TTL attribute '{ttl}' must hold a Number (epoch seconds), "
                                            f"but it is a key of type {types[ttl][1]}", "error"))
        return out

    def _key_attributes(self, props):
        for field in ("partition_key", "sort_key"):
            if field in props:
                yield (field,), props[field]
        for group in ("global_indexes", "local_indexes"):
            for name, index in props.get(group, {}).items():
                for field in ("partition_key", "sort_key"):
                    if field in index:
                        yield (group, name, field), index[field]

    def predicted_outputs(self, node, ctx):
        return {"name": node.physical_name, "arn": ctx.aws.arn("dynamodb", f"table/{node.physical_name}")}

    # --- desired ---
    def desired(self, node, ctx):
        props = node.props
        provisioned = props["billing"] == "provisioned"
        return {
            "partition_key": key(props["partition_key"]),
            "sort_key": key(props["sort_key"]) if "sort_key" in props else None,
            "billing": props["billing"],
            "read_capacity": props.get("read_capacity") if provisioned else None,
            "write_capacity": props.get("write_capacity") if provisioned else None,
            "global_indexes": {
                name: {
                    "partition_key": key(index["partition_key"]),
                    "sort_key": key(index["sort_key"]) if "sort_key" in index else None,
                    "projection": normalise_projection(index["projection"]),
                    "read_capacity": index.get("read_capacity") if provisioned else None,
                    "write_capacity": index.get("write_capacity") if provisioned else None,
                } for name, index in props["global_indexes"].items()},
            "local_indexes": {
                name: {"sort_key": key(index["sort_key"]), "projection": normalise_projection(index["projection"])}
                for name, index in props["local_indexes"].items()},
            "stream": props["stream"],
            "ttl_attribute": props.get("ttl_attribute"),
            "point_in_time_recovery": props["point_in_time_recovery"],
            "kms_key": desired_key(props),
            "contributor_insights": props["contributor_insights"],
            "deletion_protection": props["deletion_protection"],
            "table_class": props["table_class"],
            "autoscaling": desired_scaling(node.physical_name, props) if provisioned else {},
        }

    # --- read ---
    def read(self, node, ctx):
        client = ctx.client("dynamodb")
        name = node.physical_name

        def insights_status():
            try:
                return name in ctx.memo("dynamodb_contributor_insights", lambda: _tables_with_insights(client))
            except NOT_EMULATED:
                return NOT_RETURNED

        found = self.get(ctx, "describe_table", TableName=name)
        if found is None:
            return None
        facets = ctx.concurrently({
            "ttl": lambda: client.describe_time_to_live(TableName=name),
            "backups": lambda: client.describe_continuous_backups(TableName=name),
            "insights": insights_status,
        })
        table = found["Table"]
        arn = table["TableArn"]
        tags = self.read_tags(ctx, arn)
        warnings = []
        ttl = facets["ttl"]["TimeToLiveDescription"]
        backups = facets["backups"]["ContinuousBackupsDescription"]
        insights = facets["insights"]
        if insights is NOT_RETURNED and node.props["contributor_insights"]:
            warnings.append("contributor_insights: not emulated by this endpoint "
                            "(ListContributorInsights); not applied and not compared")
        shape = table_props(table)
        props = {
            **{field: shape[field] for field in ("partition_key", "sort_key", "billing", "read_capacity",
                                                 "write_capacity", "global_indexes", "local_indexes", "stream")},
            "ttl_attribute": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            else None,
            "point_in_time_recovery": backups.get("PointInTimeRecoveryDescription", {}).get(
                "PointInTimeRecoveryStatus") == "ENABLED",
            "kms_key": self._read_key(ctx, table.get("SSEDescription", {})),
            "contributor_insights": insights,
            "deletion_protection": shape["deletion_protection"],
            "table_class": shape["table_class"],
            "tags": tags,
        }
        props["autoscaling"] = read_scaling(ctx, name, node.props, props) if props["billing"] == "provisioned" \
            else {}
        outputs = {"arn": arn, "name": name}
        if table.get("LatestStreamArn") and props["stream"] != "disabled":
            outputs["stream_arn"] = table["LatestStreamArn"]
        return Observed(props, outputs, tags, warnings)

    def _read_key(self, ctx, sse) -> str | None:
        """The key ARN, or AWS_MANAGED_KEY when it is the AWS managed key (known by its alias, which
        DescribeKey resolves and, in an account that never used it, creates)."""
        arn = sse.get("KMSMasterKeyArn")
        if sse.get("Status") not in ("ENABLED", "UPDATING") or sse.get("SSEType") != "KMS" or not arn:
            return None
        managed = ctx.memo("dynamodb_aws_managed_key", lambda: ctx.client("kms").describe_key(
            KeyId=AWS_MANAGED_KEY)["KeyMetadata"]["Arn"])
        return AWS_MANAGED_KEY if arn == managed else arn

    # --- write ---
    def create(self, node, desired, ctx):
        name = node.physical_name
        table = (yield Call("dynamodb", "create_table", {**create_request(name, desired),
                                                         "Tags": self.tag_api.format(desired["tags"])}))
        table = table["TableDescription"]
        yield Wait("dynamodb", "table_exists", {"TableName": name}, "the table ACTIVE")
        if desired["ttl_attribute"]:
            yield set_ttl(name, desired["ttl_attribute"], True)
        if desired["point_in_time_recovery"]:
            yield set_pitr(name, True)
        if desired["contributor_insights"]:
            yield from set_insights(node, True, ctx)
        if desired["autoscaling"]:
            yield from put_scaling(desired, {})
        outputs = {"arn": table["TableArn"], "name": name}
        if table.get("LatestStreamArn"):
            outputs["stream_arn"] = table["LatestStreamArn"]
        return outputs

    def _set_capacity(self, node, desired, actual, fields, ctx):
        if fields <= {"global_indexes"} and actual.props["billing"] == desired["billing"]:
            return   # an index alone: _update_indexes
        provisioned = desired["billing"] == "provisioned"
        request = {"BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST"}
        if provisioned:
            request["ProvisionedThroughput"] = throughput(desired)
            kept = [n for n in desired["global_indexes"] if n in actual.props["global_indexes"]]
            if kept:
                request["GlobalSecondaryIndexUpdates"] = [index_throughput(n, desired["global_indexes"][n])
                                                          for n in kept]
        yield from update_table(node.physical_name, "set " + ", ".join(sorted(request)), **request)

    def _update_indexes(self, node, desired, actual, fields, ctx):
        name, have = node.physical_name, actual.props
        want, current = desired["global_indexes"], have["global_indexes"]
        provisioned = desired["billing"] == "provisioned"
        for index_name in sorted(current):
            if index_name not in want or index_shape(want[index_name]) != index_shape(current[index_name]):
                yield from update_table(name, f"delete index {index_name}",
                                        GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index_name}}])
        for index_name in sorted(want):
            if index_name not in current or index_shape(want[index_name]) != index_shape(current[index_name]):
                yield from update_table(name, f"create index {index_name}",
                                        AttributeDefinitions=attribute_definitions(desired),
                                        GlobalSecondaryIndexUpdates=[
                                            {"Create": global_index(index_name, want[index_name], provisioned)}])
            elif provisioned and want[index_name] != current[index_name] and have["billing"] == desired["billing"]:
                yield from update_table(name, f"set the capacity of index {index_name}",
                                        GlobalSecondaryIndexUpdates=[index_throughput(index_name, want[index_name])])

    def _set_stream(self, node, desired, actual, fields, ctx):
        name = node.physical_name
        if actual.props["stream"] != "disabled" and desired["stream"] != "disabled":
            yield from update_table(name, "disable the stream (its view changes)",
                                    StreamSpecification={"StreamEnabled": False})
        table = yield from update_table(name, "set the stream", StreamSpecification=stream_spec(desired))
        return {"stream_arn": table["LatestStreamArn"]} if table.get("LatestStreamArn") else {}

    def _set_encryption(self, node, desired, actual, fields, ctx):
        yield from update_table(node.physical_name, "set the key", SSESpecification=sse_spec(desired))

    def _set_table_class(self, node, desired, actual, fields, ctx):
        yield from update_table(node.physical_name, "set the table class", TableClass=desired["table_class"])

    def _set_deletion_protection(self, node, desired, actual, fields, ctx):
        yield Call("dynamodb", "update_table", {"TableName": node.physical_name,
                                                "DeletionProtectionEnabled": desired["deletion_protection"]})

    def _set_ttl(self, node, desired, actual, fields, ctx):
        if actual.props["ttl_attribute"]:
            yield set_ttl(node.physical_name, actual.props["ttl_attribute"], False)
        if desired["ttl_attribute"]:
            yield set_ttl(node.physical_name, desired["ttl_attribute"], True)

    def _set_pitr(self, node, desired, actual, fields, ctx):
        yield set_pitr(node.physical_name, desired["point_in_time_recovery"])

    def _set_insights(self, node, desired, actual, fields, ctx):
        yield from set_insights(node, desired["contributor_insights"], ctx)

    def _set_scaling(self, node, desired, actual, fields, ctx):
        yield from put_scaling(desired, actual.props["autoscaling"])

    # --- delete / discover ---
    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.split("/", 1)[1], arn)

    def delete(self, resource, ctx):
        found = self.get(ctx, "describe_table", TableName=resource.physical_id)
        if found is None:
            return
        table = found["Table"]
        if table.get("DeletionProtectionEnabled"):
            raise RefusedError(f"table {resource.physical_id} has deletion_protection enabled; set "
                               "deletion_protection: false and apply before deleting it")
        yield from remove_scaling(ctx, table)
        yield Call("dynamodb", "delete_table", {"TableName": resource.physical_id}, missing_ok=True)
        yield Wait("dynamodb", "table_not_exists", {"TableName": resource.physical_id})

    def has_data(self, resource, ctx):
        page = self.get(ctx, "scan", TableName=resource.physical_id, Limit=1, Select="COUNT") or {}
        return page.get("Count", 0) > 0 or "LastEvaluatedKey" in page


def _tables_with_insights(client) -> set:
    """Names of the tables whose contributor insights are on, from one ListContributorInsights listing per run
    (no paginator in botocore's model) instead of one DescribeContributorInsights per table. A table that
    never had them is not listed: off."""
    enabled, request = set(), {"MaxResults": 100}
    while True:
        page = client.list_contributor_insights(**request)
        enabled |= {s["TableName"] for s in page.get("ContributorInsightsSummaries", [])
                    if not s.get("IndexName") and s.get("ContributorInsightsStatus") in ("ENABLED", "ENABLING")}
        if not page.get("NextToken"):
            return enabled
        request["NextToken"] = page["NextToken"]
