"""One command's pipeline, for the CLI and the tests alike: lock -> plan -> (plan again under the lock
when there are changes) -> confirm -> apply -> verify.

A diff only plans. An apply or destroy plans without the lock first: a run with nothing to change takes
no lock and writes nothing. A run with changes takes the environment's lock and plans again under it,
asks its caller to confirm that plan, and applies it; a destroy then lists what the environment still
owns and, when nothing is left, removes what killed runs left of their bookkeeping. A plan with blocked
changes is refused before anything is asked or changed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from provisioner.errors import RefusedError


def _quiet(*args, **kwargs) -> None:
    return None


@dataclass
class Hooks:
    """What a run tells its caller while it works; every hook is optional and may be called from worker
    threads."""

    progress: Callable = _quiet   # progress(address, message): a slow read of a plan
    waiting: Callable = _quiet    # waiting(message): another run holds the lock, retrying
    notice: Callable = _quiet     # notice(message): taking over, or removing, what a dead run left
    event: Callable = _quiet      # event(event, change, outcome=None, message=None): see Executor
    planned: Callable = _quiet    # planned(plan): the plan that will be confirmed and applied


@dataclass
class Result:
    ctx: object
    plan: object
    outcomes: list = field(default_factory=list)
    confirmed: bool = True        # False: the caller declined the plan, nothing was changed
    change_seconds: float = 0.0   # time spent applying the changes
    left: list | None = None      # destroy: what the environment still owns afterwards


class PlanBlocked(RefusedError):
    """A plan holds changes that may not run (data loss without the flag, deletion protection)."""

    def __init__(self, verb: str, changes: list):
        self.changes = changes
        super().__init__(f"refusing to {verb}: " + "; ".join(f"{c.address}: {c.blocked}" for c in changes))


def plan_under_lock(lock, make_plan, timeout: float, on_wait=None, on_takeover=None):
    """(ctx, plan) from make_plan(), with the environment's lock held if the plan changes anything.

    The first plan is made without the lock: a run with nothing to change takes no lock and writes
    nothing. A run with changes takes the lock (waiting up to timeout for a live holder, taking over a
    dead one) and plans again under it, so that what it applies was read while no other run could
    write: a run that changed the environment during the first plan is not undone by a stale plan."""
    ctx, plan = make_plan()
    if not plan.has_changes:
        return ctx, plan
    lock.acquire(timeout, on_wait=on_wait, on_takeover=on_takeover)
    ctx.forget_discovery()
    return make_plan()


class Deployer:
    """Plans, applies and destroys one environment: `project`/`environment`, described by `spec` (a
    destroy needs no spec: it finds the environment by its ownership tags)."""

    def __init__(self, factory, project: str, environment: str, spec=None, *, allow_data_loss: bool = False,
                 parallelism: int = 10, lock_timeout: float = 0, hooks: Hooks | None = None):
        self.factory = factory
        self.project, self.environment, self.spec = project, environment, spec
        self.allow_data_loss = allow_data_loss
        self.parallelism = parallelism
        self.lock_timeout = lock_timeout
        self.hooks = hooks or Hooks()
        self.ctx = None   # the run's context, once made

    def context(self):
        self.ctx = self.factory.context(self.project, self.environment, self.spec,
                                        allow_data_loss=self.allow_data_loss, parallelism=self.parallelism)
        self.ctx.progress = self.hooks.progress
        return self.ctx

    def _lock(self, command: str):
        return self.factory.lock(self.project, self.environment, self.factory.region_for(self.spec), command,
                                 self.spec)

    def plan(self) -> Result:
        """The diff: what applying the spec would change. Takes no lock, writes nothing."""
        ctx = self.context()
        return Result(ctx, self.factory.planner(ctx).plan(self.spec))

    def apply(self, confirm: Callable) -> Result:
        """Make AWS match the spec; confirm(plan) -> bool is asked before the first change."""
        with self._lock("apply") as lock:
            ctx, plan = self._plan_locked(lock, lambda ctx: self.factory.planner(ctx).plan(self.spec), "apply")
            if not plan.has_changes:
                return Result(ctx, plan)
            return self._execute(ctx, plan, lock, confirm)

    def destroy(self, confirm: Callable, dry_run: bool = False) -> Result:
        """Delete what the environment owns, then check that nothing owned is left. A dry run only plans
        (without the lock: it changes nothing)."""
        def make_plan(ctx):
            return self.factory.planner(ctx).plan_destroy()

        lock = self._lock("destroy")   # a dry run reads the intents under it too
        if dry_run:
            ctx = self.context()
            ctx.intents = lock
            plan = make_plan(ctx)
            self.hooks.planned(plan)
            return Result(ctx, plan)
        with lock:
            ctx, plan = self._plan_locked(lock, make_plan, "destroy")
            if not plan.has_changes:
                lock.clear_leftovers(on_notice=self.hooks.notice)
                return Result(ctx, plan)
            result = self._execute(ctx, plan, lock, confirm)
            if not result.confirmed:
                return result
            ctx.forget_discovery()
            result.left = [r.address or r.arn for r in self.factory.planner(ctx).discover()]
            if not result.left:   # what runs killed before this one left of their bookkeeping
                lock.clear_leftovers()
            return result

    def _plan_locked(self, lock, make_plan, verb: str):
        """(ctx, plan) made under the lock when it has changes; the plan is shown, and refused if blocked."""
        ctx = self.context()
        ctx.intents = lock

        def plan():
            return ctx, make_plan(ctx)

        ctx, made = plan_under_lock(lock, plan, self.lock_timeout, on_wait=self.hooks.waiting,
                                    on_takeover=self.hooks.notice)
        self.hooks.planned(made)
        if made.blocked:
            raise PlanBlocked(verb, made.blocked)
        return ctx, made

    def _execute(self, ctx, plan, lock, confirm) -> Result:
        if not confirm(plan):
            return Result(ctx, plan, confirmed=False)
        started = time.monotonic()
        executor = self.factory.executor(ctx, self.hooks.event)
        lock.on_lost = executor.stop   # a run that lost its lock to another run stops starting work
        outcomes = executor.run(plan.changes)
        return Result(ctx, plan, outcomes, change_seconds=time.monotonic() - started)
