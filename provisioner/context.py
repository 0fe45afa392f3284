"""Per-run context: clients, the owner (project/environment), outputs of resources, discovery cache."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from provisioner.spec.refs import UNKNOWN, Ref, resolve

OWNER_PROJECT, OWNER_ENVIRONMENT, OWNER_RESOURCE = (
    "provisioner:project", "provisioner:environment", "provisioner:resource")


@dataclass(frozen=True)
class Owner:
    project: str
    environment: str

    def owns(self, tags: dict) -> bool:
        return (tags.get(OWNER_PROJECT) == self.project
                and tags.get(OWNER_ENVIRONMENT) == self.environment)

    def describe(self, tags: dict) -> str:
        if OWNER_PROJECT not in tags:
            return "no provisioner ownership tags"
        return f"owned by project '{tags.get(OWNER_PROJECT)}' environment '{tags.get(OWNER_ENVIRONMENT)}'"


@dataclass
class Options:
    allow_data_loss: bool = False
    parallelism: int = 10


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
        self._tagged: dict | None = None   # arn -> tags of every resource tagged as ours
        self._deliveries: list | None = None
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
            if self._deliveries is None:
                self._deliveries = [d for node in (self.spec.nodes.values() if self.spec else [])
                                    for d in self.registry[node.kind].deliveries(node, self.spec)]
        return [d for d in self._deliveries if d.target == address]

    # --- ownership ---
    def tags_for(self, node) -> dict:
        return {**node.tags, OWNER_PROJECT: self.owner.project, OWNER_ENVIRONMENT: self.owner.environment,
                OWNER_RESOURCE: node.address}

    def tagged_resources(self, matches) -> list:
        """(arn, tags) of our resources for which matches(arn) holds, from one Tagging API pass per run."""
        with self._lock:
            if self._tagged is None:
                self._tagged = self._load_tagged()
        return [(arn, tags) for arn, tags in self._tagged.items() if matches(arn)]

    def _load_tagged(self) -> dict:
        types = sorted({r.tagging_type for r in self.registry.all() if r.tagging_type})
        paginator = self.client("resourcegroupstaggingapi").get_paginator("get_resources")
        result = {}
        for page in paginator.paginate(
                TagFilters=[{"Key": OWNER_PROJECT, "Values": [self.owner.project]},
                            {"Key": OWNER_ENVIRONMENT, "Values": [self.owner.environment]}],
                ResourceTypeFilters=types):
            for item in page.get("ResourceTagMappingList", []):
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                if self.owner.owns(tags):
                    result[item["ResourceARN"]] = tags
        return result

    def forget_discovery(self) -> None:
        with self._lock:
            self._tagged = None


@dataclass
class Stats:
    created: int = 0
    updated: int = 0
    replaced: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)
