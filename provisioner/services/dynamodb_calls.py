"""A DynamoDB table's write calls besides create and delete: UpdateTable waited on until the table and its
indexes are ACTIVE again, TTL, point-in-time recovery and contributor insights."""
from __future__ import annotations

import time

from provisioner.aws.errors import NOT_EMULATED
from provisioner.aws.retries import waiter_config
from provisioner.engine.operations import Call, Wait
from provisioner.errors import ProvisionerError


def update_table(name, purpose, **changes):
    """One UpdateTable, then the table and its indexes ACTIVE again; returns the table as then described."""
    yield Call("dynamodb", "update_table", {"TableName": name, **changes}, purpose)
    yield Wait("dynamodb", "table_exists", {"TableName": name}, "the table ACTIVE")
    return (yield from _indexes_active(name))


def _indexes_active(name):
    """The table is ACTIVE while a new index still backfills: describe it until every index is ACTIVE too,
    at the pace and for as long as the table_exists waiter (a large backfill is slow)."""
    pace = waiter_config("dynamodb", "table_exists")
    for _ in range(pace["MaxAttempts"]):
        table = (yield Call("dynamodb", "describe_table", {"TableName": name}, "every index ACTIVE?"))["Table"]
        if all(i.get("IndexStatus") in (None, "ACTIVE") for i in table.get("GlobalSecondaryIndexes", [])):
            return table
        time.sleep(pace["Delay"])
    raise ProvisionerError(f"the indexes of table {name} are still not ACTIVE after "
                           f"{pace['Delay'] * pace['MaxAttempts']} s")


def set_ttl(name, attribute, enabled) -> Call:
    return Call("dynamodb", "update_time_to_live", {"TableName": name, "TimeToLiveSpecification": {
        "Enabled": enabled, "AttributeName": attribute}})


def set_pitr(name, enabled) -> Call:
    return Call("dynamodb", "update_continuous_backups", {
        "TableName": name, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": enabled}})


def set_insights(node, enabled, ctx):
    try:
        yield Call("dynamodb", "update_contributor_insights", {
            "TableName": node.physical_name, "ContributorInsightsAction": "ENABLE" if enabled else "DISABLE"})
    except NOT_EMULATED:
        ctx.warn(f"{node.address}: contributor_insights: not emulated by this endpoint "
                 "(UpdateContributorInsights); not applied")
