"""Per-run context: clients, the owner (project/environment), outputs of resources, discovery cache."""
from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass

from provisioner.engine.ownership import OWNER_ENVIRONMENT, OWNER_PROJECT, OWNER_RESOURCE, PROTECTED, Owner
from provisioner.spec.refs import UNKNOWN, Ref, resolve

READS_PER_WRITE = 4   # read quotas are far above write quotas: a plan reads 4x as many things at once


@dataclass
class Options:
    allow_data_loss: bool = False
    parallelism: int = 10

    @property
    def read_parallelism(self) -> int:
        """Concurrent reads of a plan; --parallelism 1 keeps every call one after the other."""
        return self.parallelism if self.parallelism == 1 else self.parallelism * READS_PER_WRITE


class Context:
    def __init__(self, aws, owner: Owner, registry, spec=None, options: Options | None = None):
        self.aws = aws
        self.owner = owner
        self.registry = registry
        self.spec = spec
        self.options = options or Options()
        self.intents = None   # the environment lock during apply/destroy: see lock.EnvironmentLock.intend
        self.outputs: dict = {}            # address -> {"arn": ..., "name": ..., ...}
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._deliveries: list | None = None
        self._facet_pool = None
        self._memo: dict = {}
        self.read_in_plan: frozenset = frozenset()   # addresses the current plan reads (discovery may skip them)
        self.progress = lambda address, message: None

    # --- clients ---
    def client(self, service: str):
        return self.aws.client(service)

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def account_id(self) -> str:
        return self.aws.account_id

    def warn(self, message: str) -> None:
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)

    # --- outputs and references ---
    def set_outputs(self, address: str, outputs: dict) -> None:
        with self._lock:
            self.outputs[address] = {**self.outputs.get(address, {}), **outputs}

    def lookup(self, ref: Ref):
        return self.outputs.get(ref.address, {}).get(ref.attr, UNKNOWN)

    def resolve(self, value):
        return resolve(value, self.lookup)

    def deliveries_to(self, address: str) -> list:
        """Deliveries of every resource of the spec that target address (computed once per run)."""
        with self._lock:
            if self._deliveries is None:   # after bind_account: the names as this run sees them
                self._deliveries = self.spec.deliveries_by_target() if self.spec else {}
        return self._deliveries.get(address, [])

    def memo(self, key: str, compute):
        """compute() once per run (other threads asking meanwhile wait for it): one list call feeds every
        resource that needs it (e.g. every REST API, every alarm of the spec in one batch)."""
        with self._lock:
            future = self._memo.get(key)
            first = future is None
            if first:
                future = self._memo[key] = concurrent.futures.Future()
        if first:
            try:
                future.set_result(compute())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def concurrently(self, calls: dict) -> dict:
        """{name: call()} for independent reads of one resource (its facets), made at the same time.

        Calls must not themselves wait on this pool; at --parallelism 1 they run one after the other."""
        if self.options.parallelism == 1:
            return {name: call() for name, call in calls.items()}
        with self._lock:
            if self._facet_pool is None:
                self._facet_pool = concurrent.futures.ThreadPoolExecutor(self.options.read_parallelism)
        futures = {name: self._facet_pool.submit(call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}

    # --- ownership ---
    def tags_for(self, node) -> dict:
        return {**node.tags, OWNER_PROJECT: self.owner.project, OWNER_ENVIRONMENT: self.owner.environment,
                OWNER_RESOURCE: node.address, **({PROTECTED: "true"} if node.props.get("deletion_protection") else {})}

    def tagged_resources(self, matches) -> list:
        """(arn, tags) of our resources for which matches(arn) holds, from one Tagging API pass per run."""
        return [(arn, tags) for arn, tags in self.memo("tagged", self._load_tagged).items() if matches(arn)]

    def tags_of(self, arn: str, fetch) -> dict:
        """Tags of a resource, from the run's Tagging API pass when it holds the ARN (it returns every tag of
        each resource it finds), else fetch(): one read per resource instead of two. A resource that lost
        its ownership tags is not in the pass, so fetch() still shows what it carries."""
        tags = self.memo("tagged", self._load_tagged).get(arn)   # a lookup: every read of a plan asks
        if tags is None:
            return fetch()
        return {k: v for k, v in tags.items() if not k.startswith("aws:")}

    def _load_tagged(self) -> dict:
        types = sorted({r.tagging_type for r in self.registry.all() if r.tagging_type})
        paginator = self.client("resourcegroupstaggingapi").get_paginator("get_resources")
        result = {}
        for page in paginator.paginate(
                TagFilters=[{"Key": OWNER_PROJECT, "Values": [self.owner.project]},
                            {"Key": OWNER_ENVIRONMENT, "Values": [self.owner.environment]}],
                ResourceTypeFilters=types,
                ResourcesPerPage=100, TagsPerPage=500):   # the largest pages the API allows
            for item in page.get("ResourceTagMappingList", []):
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                if self.owner.owns(tags):
                    result[item["ResourceARN"]] = tags
        return result

    def forget_discovery(self) -> None:
        """Forget what this run has listed so far (the check after destroy lists again)."""
        with self._lock:
            self._memo = {}

