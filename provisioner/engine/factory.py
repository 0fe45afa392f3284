"""Builds what a command needs (session, clients, registry, context, planner, executor) from options."""
from __future__ import annotations

import os
from dataclasses import dataclass

from provisioner import local
from provisioner.aws.session import Aws
from provisioner.engine.context import READS_PER_WRITE, Context, Options
from provisioner.engine.executor import Executor
from provisioner.engine.ownership import Owner
from provisioner.engine.plan import Planner
from provisioner.services import default_registry
from provisioner.spec.model import DEFAULT_REGION, cost_tags, load_spec


@dataclass
class Settings:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    local: bool = False
    verbose: bool = False
    color: bool = True


class Factory:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = default_registry()

    def load_spec(self, path: str, environment: str | None = None):
        region = self.settings.region or None
        return load_spec(path, self.registry, environment=environment, region=region)

    def region_for(self, spec=None) -> str:
        return (self.settings.region or (spec.region if spec else None) or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)

    def aws(self, region: str, parallelism: int = 10) -> Aws:
        endpoint, credentials = self.settings.endpoint_url, None
        if self.settings.local:
            endpoint, credentials = local.ensure_running(), dict(local.CREDENTIALS)
        return Aws(region, profile=None if self.settings.local else self.settings.profile,
                   endpoint_url=endpoint, credentials=credentials, max_pool_connections=max(10, parallelism * READS_PER_WRITE * 2))

    def context(self, project: str, environment: str, spec=None, region: str | None = None,
                allow_data_loss: bool = False, parallelism: int = 10) -> Context:
        aws = self.aws(region or self.region_for(spec), parallelism)
        used = {n.kind for n in spec.nodes.values()} if spec is not None else set(self.registry.kinds())
        # the spec's kinds, and those discovered with their own service's list call
        services = {r.service for r in self.registry.all() if r.kind in used or r.tagging_type is None}
        # discovery's listing first, then the spec's services in the order of their kinds
        order = ["resourcegroupstaggingapi"] + [r.service for r in self.registry.all() if r.service in services]
        aws.warm_up(list(dict.fromkeys(order)), account=spec is not None and spec.needs_account)
        if spec is not None and spec.needs_account:
            spec.bind_account(aws.account_id)
        return Context(aws, Owner(project, environment), self.registry, spec=spec,
                       options=Options(allow_data_loss=allow_data_loss, parallelism=max(1, parallelism)))

    def lock(self, project: str, environment: str, region: str, command: str, spec=None):
        """The environment's lock, on a client of its own (its calls are not the run's), tagged like the
        environment's resources."""
        from provisioner.engine.lock import EnvironmentLock
        tags = spec.common_tags() if spec is not None else cost_tags(project, environment)
        return EnvironmentLock(self.aws(region).client("ssm"), project, environment, command, tags=tags)

    def planner(self, ctx) -> Planner:
        return Planner(ctx)

    def executor(self, ctx, on_event) -> Executor:
        return Executor(ctx, on_event)
