"""One apply or destroy at a time per project and environment.

The lock is an item in a small DynamoDB table the tool creates on first use (`provisioner-locks`,
on-demand, one per account and region), taken with a conditional UpdateItem so that only one run can
hold it. While held, the item names the holder (user@host, pid, command, start time). A second run
fails at once with that name, or waits up to --lock-timeout; `provisioner unlock` removes a stale lock
left by a run that was killed. The lock's calls use their own client: they are not counted as the
run's API calls.

Every release adds one to the item's serial. A run that read the serial, found nobody holding the lock,
and then planned, can take the lock on condition that the serial has not moved: then no run wrote to
the environment since before its reads, and its plan is current (`take_if_unchanged`). A run with
nothing to change never takes the lock at all.
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
HOLDER_FIELDS = ("token", "holder", "pid", "command", "started")


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
        self.held = False
        self.seen_serial: str | None = None

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

    def _take(self) -> None:
        """A conditional PutItem of the held item, keeping the serial seen: taken only if nobody holds the
        lock and the serial has not moved since observe(). (A PutItem, not an UpdateItem: the emulator
        checks an UpdateItem's condition long before it writes, and two runs could both pass it.)"""
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        fields = {"token": self.token, "holder": f"{getpass.getuser()}@{socket.gethostname()}",
                  "pid": str(os.getpid()), "command": self.command, "started": started}
        item = {KEY: {"S": self.lock_id}, **{name: {"S": value} for name, value in fields.items()}}
        if self.seen_serial is None:
            condition, values = "attribute_not_exists(#token) AND attribute_not_exists(#serial)", {}
        else:
            item["serial"] = {"N": self.seen_serial}
            condition, values = "attribute_not_exists(#token) AND #serial = :seen", {":seen": {"N": self.seen_serial}}
        self._call("put_item", TableName=TABLE, Item=item, ConditionExpression=condition,
                   ExpressionAttributeNames={"#token": "token", "#serial": "serial"},
                   **({"ExpressionAttributeValues": values} if values else {}))
        self.held = True

    def _take_creating_table(self) -> None:
        try:
            self._take()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            self._ensure_table()   # first use in this account and region
            self._take()

    def _key(self) -> dict:
        return {KEY: {"S": self.lock_id}}

    def observe(self) -> dict | None:
        """The holder, if any, and the serial from which take_if_unchanged starts. Read before planning."""
        try:
            found = self._call("get_item", TableName=TABLE, Key=self._key(), ConsistentRead=True).get("Item", {})
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            found = {}
        self.seen_serial = found.get("serial", {}).get("N")
        return {k: found[k]["S"] for k in HOLDER_FIELDS if k in found} if "token" in found else None

    def take_if_unchanged(self) -> bool:
        """Take the lock if nobody holds it and no run released it since observe(); False otherwise."""
        try:
            self._take_creating_table()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def acquire(self, timeout: float = 0, on_wait=None) -> None:
        """Take the lock, waiting up to timeout seconds for the holder to release it."""
        def attempt():
            while True:   # a run that took and released the lock between our read and our write: read again
                holder = self.observe()
                if holder:
                    raise LockHeld(f"{self.lock_id} is locked by {describe(holder)}; wait with --lock-timeout "
                                   f"SECONDS, or if that run is gone: provisioner unlock")
                if self.take_if_unchanged():
                    return

        def before_sleep(state):
            if on_wait:
                on_wait(str(state.outcome.exception()))

        if timeout <= 0:
            attempt()
            return
        retry(retry=retry_if_exception_type(LockHeld), stop=stop_after_delay(timeout), reraise=True,
              wait=wait_random_exponential(multiplier=0.5, max=5), before_sleep=before_sleep)(attempt)()

    def _clear(self, token: str) -> None:
        self._call("update_item", TableName=TABLE, Key=self._key(),
                   UpdateExpression="REMOVE " + ", ".join(f"#{name}" for name in HOLDER_FIELDS) + " ADD #serial :one",
                   ConditionExpression="#token = :token",
                   ExpressionAttributeNames={**{f"#{name}": name for name in HOLDER_FIELDS}, "#serial": "serial"},
                   ExpressionAttributeValues={":token": {"S": token}, ":one": {"N": "1"}})

    def release(self) -> None:
        """Give the lock back if this run holds it (never another run's)."""
        if not self.held:
            return
        try:
            self._clear(self.token)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in ("ConditionalCheckFailedException", "ResourceNotFoundException"):
                raise
        self.held = False

    def force_release(self) -> dict | None:
        """Remove whoever's lock it is (for `provisioner unlock`); returns the holder removed."""
        holder = self.observe()
        if holder:
            try:
                self._clear(holder["token"])
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":   # released meanwhile
                    raise
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
