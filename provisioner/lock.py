"""One apply or destroy at a time per project and environment.

The lock is an item in a small DynamoDB table the tool creates on first use (`provisioner-locks`,
on-demand, one per account and region), written with a conditional PutItem so that only one run can
hold it. The item names the holder (user@host, pid, command, start time). A second run fails at once
with that name, or waits up to --lock-timeout; `provisioner unlock` removes a stale lock left by a run
that was killed. The lock's calls use their own client: they are not counted as the run's API calls.
"""
from __future__ import annotations

import datetime
import getpass
import os
import socket
import uuid

import botocore.exceptions
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random_exponential

from provisioner.aws import error_code
from provisioner.errors import ProvisionerError

TABLE = "provisioner-locks"
KEY = "lock_id"
WAIT = {"Delay": 1, "MaxAttempts": 120}


class LockHeld(ProvisionerError):
    """Another run holds the environment's lock."""


def describe(holder: dict) -> str:
    return (f"{holder.get('holder', '?')} (pid {holder.get('pid', '?')}, {holder.get('command', '?')}) "
            f"since {holder.get('started', '?')}")


class EnvironmentLock:
    def __init__(self, client, project: str, environment: str, command: str):
        self.client = client
        self.lock_id = f"{project}/{environment}"
        self.command = command
        self.token = uuid.uuid4().hex
        self.calls = 0

    def _call(self, operation, **kwargs):
        self.calls += 1
        return getattr(self.client, operation)(**kwargs)

    def _ensure_table(self) -> None:
        try:
            self._call("create_table", TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                       AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                       KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                       Tags=[{"Key": "ManagedBy", "Value": "provisioner"}])
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceInUseException":   # another run created it first
                raise
        self.client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig=WAIT)

    def _put(self) -> None:
        item = {KEY: self.lock_id, "token": self.token, "holder": f"{getpass.getuser()}@{socket.gethostname()}",
                "pid": str(os.getpid()), "command": self.command,
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self._call("put_item", TableName=TABLE, Item={k: {"S": v} for k, v in item.items()},
                   ConditionExpression="attribute_not_exists(#id)", ExpressionAttributeNames={"#id": KEY})

    def holder(self) -> dict | None:
        found = self._call("get_item", TableName=TABLE, Key={KEY: {"S": self.lock_id}}, ConsistentRead=True)
        item = found.get("Item")
        return {k: v["S"] for k, v in item.items()} if item else None

    def acquire(self, timeout: float = 0, on_wait=None) -> None:
        """Take the lock, waiting up to timeout seconds for the holder to release it."""
        def attempt():
            try:
                try:
                    self._put()
                except botocore.exceptions.ClientError as exc:
                    if error_code(exc) != "ResourceNotFoundException":
                        raise
                    self._ensure_table()   # first use in this account and region
                    self._put()
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                holder = self.holder()
                raise LockHeld(f"{self.lock_id} is locked by {describe(holder or {})}; wait with --lock-timeout "
                               f"SECONDS, or if that run is gone: provisioner unlock") from None

        def before_sleep(state):
            if on_wait:
                on_wait(str(state.outcome.exception()))

        if timeout <= 0:
            attempt()
            return
        retry(retry=retry_if_exception_type(LockHeld), stop=stop_after_delay(timeout), reraise=True,
              wait=wait_random_exponential(multiplier=0.5, max=5), before_sleep=before_sleep)(attempt)()

    def release(self) -> None:
        """Remove the lock if it is still ours (never another run's)."""
        try:
            self._call("delete_item", TableName=TABLE, Key={KEY: {"S": self.lock_id}},
                       ConditionExpression="#token = :token", ExpressionAttributeNames={"#token": "token"},
                       ExpressionAttributeValues={":token": {"S": self.token}})
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in ("ConditionalCheckFailedException", "ResourceNotFoundException"):
                raise

    def force_release(self) -> dict | None:
        """Remove whoever's lock it is (for `provisioner unlock`); returns the holder removed."""
        try:
            holder = self.holder()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        if holder:
            self._call("delete_item", TableName=TABLE, Key={KEY: {"S": self.lock_id}})
        return holder

    # --- intents: a resource that cannot be tagged in its create call (an S3 bucket) is announced here
    # first, so that a run killed between create and tag still finds it as ours, and never a foreign one.
    def _intent_id(self, resource: str) -> str:
        return f"{self.lock_id}#intent#{resource}"

    def intend(self, resource: str) -> None:
        self._call("put_item", TableName=TABLE, Item={KEY: {"S": self._intent_id(resource)},
                                                      "token": {"S": self.token}})

    def fulfilled(self, resource: str) -> None:
        self._call("delete_item", TableName=TABLE, Key={KEY: {"S": self._intent_id(resource)}})

    def pending(self, prefix: str) -> list[str]:
        """Resources announced under prefix (e.g. "s3:") and not confirmed tagged since."""
        start = self._intent_id(prefix)
        found = []
        try:
            for page in self.client.get_paginator("scan").paginate(
                    TableName=TABLE, ConsistentRead=True, FilterExpression="begins_with(#id, :start)",
                    ExpressionAttributeNames={"#id": KEY}, ExpressionAttributeValues={":start": {"S": start}}):
                self.calls += 1
                found.extend(item[KEY]["S"][len(self._intent_id("")):] for item in page["Items"])
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":   # no table: nothing was ever announced
                raise
        return found

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False
