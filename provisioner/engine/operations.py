"""Writes as data: a reconciler's create, update and delete yield the calls they need (Call, Wait,
Together) and get each call's response back; the executor performs them, `plan -v` only shows them.

    def create(self, node, desired, ctx):
        url = (yield Call("sqs", "create_queue", {"QueueName": name, ...}))["QueueUrl"]
        return {"url": url}

Retries on eventual consistency and waiter settings are looked up by (service, operation) in
provisioner.aws.retries, and "already gone" on a delete from the kind's declared missing codes:
no reconciler wraps a call itself.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.errors import CALL_ERRORS, missing_is_done
from provisioner.aws.retries import transient_retry, waiter_config


def operation_name(method: str) -> str:
    """put_bucket_tagging -> PutBucketTagging, as AWS names the operation."""
    return "".join(part.capitalize() for part in method.split("_"))


@dataclass(frozen=True)
class Call:
    """One AWS API call: client method and parameters, and what it is for."""

    service: str
    method: str               # the client method, e.g. "set_queue_attributes"
    params: dict = field(default_factory=dict, hash=False)
    purpose: str = ""         # in words, for `plan -v`
    missing_ok: bool = False  # the resource (or the part) being gone already is the outcome wanted

    def __str__(self) -> str:
        return f"{self.service}:{operation_name(self.method)}"


@dataclass(frozen=True)
class Wait:
    """A botocore waiter (its delay and attempts come from the waits table)."""

    service: str
    waiter: str               # e.g. "table_exists"
    params: dict = field(default_factory=dict, hash=False)
    purpose: str = ""

    def __str__(self) -> str:
        return f"{self.service}:wait {self.waiter}"


@dataclass(frozen=True)
class Together:
    """Independent branches (each a Call or a generator of operations) run at the same time; the
    response is the list of their results in order."""

    branches: tuple


def run(operations, perform) -> Any:
    """Drive what create/update/delete returned: a generator of operations (its return value is the
    result), or a plain value (a reconciler that needed no call). A call's error is raised at its yield,
    where the reconciler may handle it (an API an emulator lacks)."""
    if not inspect.isgenerator(operations):
        return operations
    try:
        operation = next(operations)
        while True:
            try:
                answer = perform(operation)
            except CALL_ERRORS as error:
                operation = operations.throw(error)
            else:
                operation = operations.send(answer)
    except StopIteration as stop:
        return stop.value


class Performer:
    """Performs operations for one resource against AWS."""

    def __init__(self, ctx, address: str, missing: tuple = (), nested: bool = False):
        self.ctx = ctx
        self.address = address
        self.missing = missing
        self.nested = nested   # inside a branch of Together: a Together there runs its branches in turn

    def __call__(self, operation):
        if isinstance(operation, Together):
            inner = Performer(self.ctx, self.address, self.missing, nested=True)
            if self.nested:   # the branches' pool is not waited on from inside itself
                return [run_branch(branch, inner) for branch in operation.branches]
            done = self.ctx.concurrently({i: (lambda branch=branch: run_branch(branch, inner))
                                          for i, branch in enumerate(operation.branches)})
            return [done[i] for i in range(len(operation.branches))]
        client = self.ctx.client(operation.service)
        if isinstance(operation, Wait):
            self.ctx.progress(self.address, f"waiting for {operation.purpose or operation.waiter}")
            config = waiter_config(operation.service, operation.waiter)
            client.get_waiter(operation.waiter).wait(**operation.params, WaiterConfig=config)
            return None
        call = transient_retry(operation.service, operation.method,
                               lambda message: self.ctx.progress(self.address, message))(
            getattr(client, operation.method))
        if operation.missing_ok:
            with missing_is_done(*self.missing):
                return call(**operation.params)
            return None
        return call(**operation.params)


def run_branch(branch, perform):
    return perform(branch) if isinstance(branch, (Call, Wait, Together)) else run(branch, perform)


class Pending:
    """What a shown-only call answers: any part of it reads as "(from OPERATION)"."""

    def __init__(self, source: str):
        self._source = source

    def __getitem__(self, key):
        return Pending(self._source)

    def get(self, key, default=None):
        return Pending(self._source)

    def __iter__(self):
        return iter(())

    def __repr__(self) -> str:
        return f"(from {self._source})"

    __str__ = __repr__


class Recorder:
    """Collects the operations instead of performing them (plan -v, planner tests)."""

    def __init__(self):
        self.operations: list = []

    def __call__(self, operation):
        if isinstance(operation, Together):
            return [run_branch(branch, self) for branch in operation.branches]
        self.operations.append(operation)
        if isinstance(operation, Wait):
            return None
        return Pending(operation_name(operation.method))


def recorded(operations) -> list:
    """The operations a create/update/delete would perform, without performing any. A step that
    needs a real answer to go on stops the listing there."""
    recorder = Recorder()
    try:
        run(operations, recorder)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError):
        recorder.operations.append(None)   # what follows depends on answers only AWS gives
    return recorder.operations
