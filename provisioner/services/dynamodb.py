"""DynamoDB tables: keys, billing, indexes, streams, TTL, PITR, SSE, contributor insights, protection."""
from __future__ import annotations

import botocore.exceptions

from provisioner.aws.errors import NOT_EMULATED, error_code, unless_missing
from provisioner.aws.retries import eventually
from provisioner.errors import RefusedError
from provisioner.services.base import (
    NOT_RETURNED,
    NameRule,
    Observed,
    OwnedResource,
    Reconciler,
    retag,
    tags_from_list,
    tags_to_list,
)

NOT_FOUND = ("ResourceNotFoundException",)
BUSY = ("ResourceInUseException", "LimitExceededException")   # table or index still changing
STREAM_VIEWS = {"keys_only": "KEYS_ONLY", "new_image": "NEW_IMAGE", "old_image": "OLD_IMAGE",
                "new_and_old_images": "NEW_AND_OLD_IMAGES"}
SCALING_METRICS = {"read": "DynamoDBReadCapacityUtilization", "write": "DynamoDBWriteCapacityUtilization"}
WAIT = {"Delay": 2, "MaxAttempts": 450}   # up to 15 minutes: large GSI backfills are slow
AWS_MANAGED_KEY = "alias/aws/dynamodb"


def _scaling(name: str, props: dict) -> dict:
    """"table/NAME read" -> {min, max, target}: every auto-scaled dimension of the table and its indexes."""
    owners = [(f"table/{name}", props.get("autoscaling") or {})] + [
        (f"table/{name}/index/{index_name}", index.get("autoscaling") or {})
        for index_name, index in props["global_indexes"].items()]
    return {f"{resource} {direction}": {"min": config["min"], "max": config["max"], "target": float(config["target"])}
            for resource, scaling in owners for direction, config in sorted(scaling.items())}


def _dimension(key: str) -> tuple[str, str, str]:
    """"table/t/index/i read" -> (resource id, scalable dimension, direction)."""
    resource, direction = key.rsplit(" ", 1)
    level = "index" if "/index/" in resource else "table"
    units = "ReadCapacityUnits" if direction == "read" else "WriteCapacityUnits"
    return resource, f"dynamodb:{level}:{units}", direction


def _desired_key(props) -> str | None:
    if props["encryption"] == "aws_owned":
        return None
    return props.get("kms_key") or AWS_MANAGED_KEY


def _key(attribute: dict) -> dict:
    return {"name": attribute["name"], "type": attribute["type"]}


def _projection(value) -> dict:
    if value == "all":
        return {"ProjectionType": "ALL"}
    if value == "keys_only":
        return {"ProjectionType": "KEYS_ONLY"}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(value["include"])}


def _read_projection(projection: dict):
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return "all"
    if kind == "KEYS_ONLY":
        return "keys_only"
    return {"include": sorted(projection.get("NonKeyAttributes", []))}


def _key_schema(partition, sort) -> list:
    schema = [{"AttributeName": partition["name"], "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort["name"], "KeyType": "RANGE"})
    return schema


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
            "partition_key": _key(props["partition_key"]),
            "sort_key": _key(props["sort_key"]) if "sort_key" in props else None,
            "billing": props["billing"],
            "read_capacity": props.get("read_capacity") if provisioned else None,
            "write_capacity": props.get("write_capacity") if provisioned else None,
            "global_indexes": {
                name: {
                    "partition_key": _key(index["partition_key"]),
                    "sort_key": _key(index["sort_key"]) if "sort_key" in index else None,
                    "projection": _normalise_projection(index["projection"]),
                    "read_capacity": index.get("read_capacity") if provisioned else None,
                    "write_capacity": index.get("write_capacity") if provisioned else None,
                } for name, index in props["global_indexes"].items()},
            "local_indexes": {
                name: {"sort_key": _key(index["sort_key"]), "projection": _normalise_projection(index["projection"])}
                for name, index in props["local_indexes"].items()},
            "stream": props["stream"],
            "ttl_attribute": props.get("ttl_attribute"),
            "point_in_time_recovery": props["point_in_time_recovery"],
            "kms_key": _desired_key(props),
            "contributor_insights": props["contributor_insights"],
            "deletion_protection": props["deletion_protection"],
            "table_class": props["table_class"],
            "autoscaling": _scaling(node.physical_name, props) if provisioned else {},
            "tags": ctx.tags_for(node),
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

        found = unless_missing(client.describe_table, *NOT_FOUND, TableName=name)
        if found is None:
            return None
        facets = ctx.concurrently({
            "ttl": lambda: client.describe_time_to_live(TableName=name),
            "backups": lambda: client.describe_continuous_backups(TableName=name),
            "insights": insights_status,
        })
        table = found["Table"]
        arn = table["TableArn"]
        tags = ctx.tags_of(arn, lambda: self._tags(client, arn))
        warnings = []
        billing = "on_demand" if table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST" \
            else "provisioned"
        provisioned = billing == "provisioned"
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}

        def key(name):
            return {"name": name, "type": types.get(name)} if name else None

        def index_keys(index):
            schema = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
            return key(schema.get("HASH")), key(schema.get("RANGE"))

        global_indexes = {}
        for index in table.get("GlobalSecondaryIndexes", []):
            partition, sort = index_keys(index)
            throughput = index.get("ProvisionedThroughput", {})
            global_indexes[index["IndexName"]] = {
                "partition_key": partition, "sort_key": sort,
                "projection": _read_projection(index.get("Projection", {})),
                "read_capacity": throughput.get("ReadCapacityUnits") if provisioned else None,
                "write_capacity": throughput.get("WriteCapacityUnits") if provisioned else None,
            }
        local_indexes = {}
        for index in table.get("LocalSecondaryIndexes", []):
            local_indexes[index["IndexName"]] = {
                "sort_key": index_keys(index)[1], "projection": _read_projection(index.get("Projection", {}))}
        stream = table.get("StreamSpecification", {})
        sse = table.get("SSEDescription", {})
        ttl = facets["ttl"]["TimeToLiveDescription"]
        backups = facets["backups"]["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
        insights = facets["insights"]
        if insights is NOT_RETURNED:
            if node.props["contributor_insights"]:
                warnings.append("contributor_insights: not emulated by this endpoint "
                                "(ListContributorInsights); not applied and not compared")
        throughput = table.get("ProvisionedThroughput", {})
        props = {
            "partition_key": key(keys.get("HASH")),
            "sort_key": key(keys.get("RANGE")),
            "billing": billing,
            "read_capacity": throughput.get("ReadCapacityUnits") if provisioned else None,
            "write_capacity": throughput.get("WriteCapacityUnits") if provisioned else None,
            "global_indexes": global_indexes,
            "local_indexes": local_indexes,
            "stream": next((k for k, v in STREAM_VIEWS.items() if v == stream.get("StreamViewType")), "disabled")
            if stream.get("StreamEnabled") else "disabled",
            "ttl_attribute": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            else None,
            "point_in_time_recovery": pitr,
            "kms_key": self._read_key(ctx, sse),
            "contributor_insights": insights,
            "deletion_protection": table.get("DeletionProtectionEnabled", False),
            "table_class": table.get("TableClassSummary", {}).get("TableClass", "STANDARD"),
            "tags": tags,
        }
        if provisioned:
            props["autoscaling"] = self._read_scaling(ctx, name, node.props, props)
        else:
            props["autoscaling"] = {}
        outputs = {"arn": arn, "name": name}
        if table.get("LatestStreamArn") and props["stream"] != "disabled":
            outputs["stream_arn"] = table["LatestStreamArn"]
        return Observed(props, outputs, tags, warnings)

    def _read_scaling(self, ctx, name, spec_props, props) -> dict:
        """Scalable targets and their target-tracking policies. Capacity that auto scaling owns is
        reported as the spec's starting value: auto scaling changing it is not drift."""
        client = ctx.client("application-autoscaling")
        resources = [f"table/{name}"] + [f"table/{name}/index/{i}" for i in props["global_indexes"]]
        found = {}
        for page in client.get_paginator("describe_scalable_targets").paginate(
                ServiceNamespace="dynamodb", ResourceIds=resources):
            for target in page["ScalableTargets"]:
                direction = "read" if target["ScalableDimension"].endswith("ReadCapacityUnits") else "write"
                found[f"{target['ResourceId']} {direction}"] = {"min": target["MinCapacity"],
                                                                "max": target["MaxCapacity"], "target": None}
        for resource in sorted({key.rsplit(" ", 1)[0] for key in found}):
            for page in client.get_paginator("describe_scaling_policies").paginate(
                    ServiceNamespace="dynamodb", ResourceId=resource):
                for policy in page["ScalingPolicies"]:
                    direction = "read" if policy["ScalableDimension"].endswith("ReadCapacityUnits") else "write"
                    tracking = policy.get("TargetTrackingScalingPolicyConfiguration", {})
                    if f"{resource} {direction}" in found:
                        found[f"{resource} {direction}"]["target"] = tracking.get("TargetValue")
        for key in found:
            resource, _, direction = _dimension(key)
            field = f"{direction}_capacity"
            if resource == f"table/{name}" and (spec_props.get("autoscaling") or {}).get(direction):
                props[field] = spec_props.get(field)
            index_name = resource.rsplit("/", 1)[-1]
            index = spec_props["global_indexes"].get(index_name, {})
            if "/index/" in resource and (index.get("autoscaling") or {}).get(direction) \
                    and index_name in props["global_indexes"]:
                props["global_indexes"][index_name][field] = index.get(field)
        return found

    def _put_scaling(self, ctx, desired, have: dict):
        client = ctx.client("application-autoscaling")
        for key in sorted(set(have) - set(desired["autoscaling"])):
            resource, dimension, _ = _dimension(key)
            client.deregister_scalable_target(ServiceNamespace="dynamodb", ResourceId=resource,
                                              ScalableDimension=dimension)
        for key, config in desired["autoscaling"].items():
            if have.get(key) == config:
                continue
            resource, dimension, direction = _dimension(key)
            client.register_scalable_target(ServiceNamespace="dynamodb", ResourceId=resource,
                                            ScalableDimension=dimension, MinCapacity=config["min"],
                                            MaxCapacity=config["max"])
            client.put_scaling_policy(
                PolicyName=f"{resource.replace('/', '-')}-{direction}-target-tracking", ServiceNamespace="dynamodb",
                ResourceId=resource, ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": config["target"],
                    "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRICS[direction]}})

    def _tags(self, client, arn) -> dict:
        tags, token = [], None
        while True:
            page = client.list_tags_of_resource(ResourceArn=arn, **({"NextToken": token} if token else {}))
            tags.extend(page.get("Tags", []))
            token = page.get("NextToken")
            if not token:
                return tags_from_list(tags)

    # --- write ---
    def _attribute_definitions(self, desired) -> list:
        attributes = {}
        for attribute in [desired["partition_key"], desired["sort_key"]] + [
                index[k] for group in ("global_indexes", "local_indexes")
                for index in desired[group].values() for k in ("partition_key", "sort_key") if index.get(k)]:
            if attribute:
                attributes[attribute["name"]] = attribute["type"]
        return [{"AttributeName": n, "AttributeType": t} for n, t in sorted(attributes.items())]

    def _gsi(self, name, index, provisioned) -> dict:
        spec = {"IndexName": name, "KeySchema": _key_schema(index["partition_key"], index["sort_key"]),
                "Projection": _projection(index["projection"])}
        if provisioned:
            spec["ProvisionedThroughput"] = {"ReadCapacityUnits": index["read_capacity"],
                                             "WriteCapacityUnits": index["write_capacity"]}
        return spec

    def _stream_spec(self, desired) -> dict:
        if desired["stream"] == "disabled":
            return {"StreamEnabled": False}
        return {"StreamEnabled": True, "StreamViewType": STREAM_VIEWS[desired["stream"]]}

    def _sse_spec(self, desired) -> dict:
        if desired["kms_key"] == AWS_MANAGED_KEY:
            return {"Enabled": True, "SSEType": "KMS"}
        if desired["kms_key"]:
            return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": desired["kms_key"]}
        return {"Enabled": False}

    def _read_key(self, ctx, sse) -> str | None:
        """The key ARN, or AWS_MANAGED_KEY when it is the AWS managed key (known by its alias, which
        DescribeKey resolves and, in an account that never used it, creates)."""
        arn = sse.get("KMSMasterKeyArn")
        if sse.get("Status") not in ("ENABLED", "UPDATING") or sse.get("SSEType") != "KMS" or not arn:
            return None
        managed = ctx.memo("dynamodb_aws_managed_key", lambda: ctx.client("kms").describe_key(
            KeyId=AWS_MANAGED_KEY)["KeyMetadata"]["Arn"])
        return AWS_MANAGED_KEY if arn == managed else arn

    def create(self, node, desired, ctx):
        client = ctx.client("dynamodb")
        name = node.physical_name
        provisioned = desired["billing"] == "provisioned"
        request = {
            "TableName": name,
            "AttributeDefinitions": self._attribute_definitions(desired),
            "KeySchema": _key_schema(desired["partition_key"], desired["sort_key"]),
            "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
            "TableClass": desired["table_class"],
            "DeletionProtectionEnabled": desired["deletion_protection"],
            "Tags": tags_to_list(desired["tags"]),
        }
        if provisioned:
            request["ProvisionedThroughput"] = {"ReadCapacityUnits": desired["read_capacity"],
                                                "WriteCapacityUnits": desired["write_capacity"]}
        if desired["global_indexes"]:
            request["GlobalSecondaryIndexes"] = [self._gsi(n, i, provisioned)
                                                 for n, i in desired["global_indexes"].items()]
        if desired["local_indexes"]:
            request["LocalSecondaryIndexes"] = [
                {"IndexName": n, "KeySchema": _key_schema(desired["partition_key"], i["sort_key"]),
                 "Projection": _projection(i["projection"])} for n, i in desired["local_indexes"].items()]
        if desired["stream"] != "disabled":
            request["StreamSpecification"] = self._stream_spec(desired)
        if desired["kms_key"]:
            request["SSESpecification"] = self._sse_spec(desired)
        table = client.create_table(**request)["TableDescription"]
        ctx.progress(node.address, "waiting for table ACTIVE")
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
        if desired["ttl_attribute"]:
            self._set_ttl(client, name, desired["ttl_attribute"], True)
        if desired["point_in_time_recovery"]:
            self._set_pitr(client, name, True)
        if desired["contributor_insights"]:
            self._set_insights(client, name, True, node, ctx)
        if desired["autoscaling"]:
            self._put_scaling(ctx, desired, {})
        outputs = {"arn": table["TableArn"], "name": name}
        if table.get("LatestStreamArn"):
            outputs["stream_arn"] = table["LatestStreamArn"]
        return outputs

    def update(self, node, desired, actual, diffs, ctx):
        client = ctx.client("dynamodb")
        name = node.physical_name
        have = actual.props
        fields = {d.field for d in diffs}
        provisioned = desired["billing"] == "provisioned"
        update_table = eventually(BUSY, timeout=900, on_wait=lambda m: ctx.progress(node.address, m))(
            _refusals_not_retried(client.update_table))

        def settle():
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
            self._wait_indexes_active(client, name)

        # DynamoDB takes one kind of change per UpdateTable: throughput/billing, stream, each GSI create/delete
        if fields & {"billing", "read_capacity", "write_capacity"} or (
                "global_indexes" in fields and have["billing"] != desired["billing"]):
            request = {"TableName": name, "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST"}
            if provisioned:
                request["ProvisionedThroughput"] = {"ReadCapacityUnits": desired["read_capacity"],
                                                    "WriteCapacityUnits": desired["write_capacity"]}
                kept = [n for n in desired["global_indexes"] if n in have["global_indexes"]]
                if kept:
                    request["GlobalSecondaryIndexUpdates"] = [{"Update": {
                        "IndexName": n, "ProvisionedThroughput": {
                            "ReadCapacityUnits": desired["global_indexes"][n]["read_capacity"],
                            "WriteCapacityUnits": desired["global_indexes"][n]["write_capacity"]}}} for n in kept]
            update_table(**request)
            settle()
        if "global_indexes" in fields:
            self._update_indexes(client, name, desired, have, provisioned, update_table, settle)
        if "stream" in fields:
            if have["stream"] != "disabled" and desired["stream"] != "disabled":
                update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
                settle()
            update_table(TableName=name, StreamSpecification=self._stream_spec(desired))
            settle()
        if "kms_key" in fields:
            update_table(TableName=name, SSESpecification=self._sse_spec(desired))
            settle()
        if "table_class" in fields:
            update_table(TableName=name, TableClass=desired["table_class"])
            settle()
        if "deletion_protection" in fields:
            update_table(TableName=name, DeletionProtectionEnabled=desired["deletion_protection"])
        if "ttl_attribute" in fields:
            if have["ttl_attribute"]:
                self._set_ttl(client, name, have["ttl_attribute"], False)
            if desired["ttl_attribute"]:
                self._set_ttl(client, name, desired["ttl_attribute"], True)
        if "point_in_time_recovery" in fields:
            self._set_pitr(client, name, desired["point_in_time_recovery"])
        if "contributor_insights" in fields:
            self._set_insights(client, name, desired["contributor_insights"], node, ctx)
        if "autoscaling" in fields:
            self._put_scaling(ctx, desired, have["autoscaling"])
        if "tags" in fields:
            arn = actual.outputs["arn"]
            retag(desired["tags"], have["tags"], lambda keys: client.untag_resource(ResourceArn=arn, TagKeys=keys),
                  lambda tags: client.tag_resource(ResourceArn=arn, Tags=tags_to_list(tags)))
        table = client.describe_table(TableName=name)["Table"] if "stream" in fields else None
        return {"stream_arn": table.get("LatestStreamArn")} if table and table.get("LatestStreamArn") else {}

    def _update_indexes(self, client, name, desired, have, provisioned, update_table, settle):
        want, current = desired["global_indexes"], have["global_indexes"]
        definitions = self._attribute_definitions(desired)
        for index_name in sorted(current):
            if index_name not in want or _index_shape(want[index_name]) != _index_shape(current[index_name]):
                update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index_name}}])
                settle()
        for index_name in sorted(want):
            if index_name not in current or _index_shape(want[index_name]) != _index_shape(current[index_name]):
                update_table(TableName=name, AttributeDefinitions=definitions, GlobalSecondaryIndexUpdates=[
                    {"Create": self._gsi(index_name, want[index_name], provisioned)}])
                settle()
            elif provisioned and want[index_name] != current[index_name] and have["billing"] == desired["billing"]:
                update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Update": {
                    "IndexName": index_name, "ProvisionedThroughput": {
                        "ReadCapacityUnits": want[index_name]["read_capacity"],
                        "WriteCapacityUnits": want[index_name]["write_capacity"]}}}])
                settle()

    def _wait_indexes_active(self, client, name):
        @eventually(("IndexNotActive",), timeout=900)
        def check():
            table = client.describe_table(TableName=name)["Table"]
            if any(i.get("IndexStatus") not in (None, "ACTIVE") for i in table.get("GlobalSecondaryIndexes", [])):
                raise _IndexNotActive()
        check()

    def _set_ttl(self, client, name, attribute, enabled):
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": enabled, "AttributeName": attribute})

    def _set_pitr(self, client, name, enabled):
        eventually(("ContinuousBackupsUnavailableException",), timeout=300)(client.update_continuous_backups)(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled})

    def _set_insights(self, client, name, enabled, node, ctx):
        try:
            client.update_contributor_insights(TableName=name,
                                               ContributorInsightsAction="ENABLE" if enabled else "DISABLE")
        except NOT_EMULATED:
            ctx.warn(f"{node.address}: contributor_insights: not emulated by this endpoint "
                     "(UpdateContributorInsights); not applied")

    # --- delete / discover ---
    def owned_from_arn(self, arn, tags):
        return OwnedResource.from_tags(self.kind, tags, arn.split("/", 1)[1], arn)

    def delete(self, resource, ctx):
        client = ctx.client("dynamodb")
        found = unless_missing(client.describe_table, *NOT_FOUND, TableName=resource.physical_id)
        if found is None:
            return
        table = found["Table"]
        if table.get("DeletionProtectionEnabled"):
            raise RefusedError(f"table {resource.physical_id} has deletion_protection enabled; set "
                               "deletion_protection: false and apply before deleting it")
        self._remove_scaling(ctx, table)
        eventually(BUSY, timeout=900)(client.delete_table)(TableName=resource.physical_id)
        client.get_waiter("table_not_exists").wait(TableName=resource.physical_id, WaiterConfig=WAIT)

    def _remove_scaling(self, ctx, table):
        """Scalable targets outlive their table unless deregistered."""
        if table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") != "PROVISIONED":
            return
        name = table["TableName"]
        client = ctx.client("application-autoscaling")
        resources = [f"table/{name}"] + [f"table/{name}/index/{i['IndexName']}"
                                         for i in table.get("GlobalSecondaryIndexes", [])]
        for page in client.get_paginator("describe_scalable_targets").paginate(
                ServiceNamespace="dynamodb", ResourceIds=resources):
            for target in page["ScalableTargets"]:
                client.deregister_scalable_target(ServiceNamespace="dynamodb", ResourceId=target["ResourceId"],
                                                  ScalableDimension=target["ScalableDimension"])

    def has_data(self, resource, ctx):
        page = unless_missing(ctx.client("dynamodb").scan, *NOT_FOUND, default={},
                              TableName=resource.physical_id, Limit=1, Select="COUNT")
        return page.get("Count", 0) > 0 or "LastEvaluatedKey" in page


def _refusals_not_retried(update_table):
    """ResourceInUseException means "busy, retry" on AWS, but moto also answers it ("Cannot enable stream")
    when a stream is enabled again on a table whose stream was disabled: permanent there, so fail at once
    instead of retrying for 15 minutes."""
    def call(**request):
        try:
            return update_table(**request)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ResourceInUseException" and "Cannot enable stream" in str(exc):
                raise RefusedError("the endpoint refuses to enable a stream again on this table "
                                   "(UpdateTable: ResourceInUseException: Cannot enable stream)") from exc
            raise
    return call


class _IndexNotActive(Exception):
    response = {"Error": {"Code": "IndexNotActive"}}


def _normalise_projection(value):
    if isinstance(value, dict):
        return {"include": sorted(value["include"])}
    return value


def _index_shape(index: dict) -> tuple:
    return (index["partition_key"], index["sort_key"], index["projection"])


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
