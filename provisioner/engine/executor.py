"""Runs a plan: each change as soon as the changes it depends on are done, up to N at once.

Creates and updates follow references; deletes run after them, kinds in reverse creation order.
A failure skips what depends on it and lets independent branches finish; every failure is reported.
Ctrl-C stops starting new work, lets in-flight calls finish, and reports what was and was not done.
"""
from __future__ import annotations

import concurrent.futures
import inspect
import os
import signal
import time
from dataclasses import dataclass

import botocore.exceptions

from provisioner.engine.operations import Performer, recorded, run
from provisioner.engine.plan import CREATE, DELETE, NOOP, REPLACE, UPDATE, Change, diff
from provisioner.errors import AwsCallError, ExitCode, NotEmulated, ProvisionerError
from provisioner.spec.loader import format_path
from provisioner.spec.refs import UNKNOWN

VERBS = {CREATE: "create", UPDATE: "update", REPLACE: "replace", DELETE: "delete"}


@dataclass
class Outcome:
    change: Change
    status: str            # done | failed | skipped | not_started
    seconds: float = 0.0
    error: str = ""


class UnresolvedReference(ProvisionerError):
    pass


def _dependencies(changes: list[Change], registry) -> dict:
    pending = {c.address for c in changes}
    deps = {}
    for change in changes:
        if change.action == DELETE:
            tier = registry[change.kind].delete_tier
            deps[change.address] = {c.address for c in changes
                                    if c.action != DELETE or registry[c.kind].delete_tier > tier}
        else:
            deps[change.address] = {d for d in change.node.deps if d in pending}
    return deps


def _find_unknown(value, path=()):
    if value is UNKNOWN:
        return path
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _find_unknown(item, path + (key,))
        if found is not None:
            return found
    return None


class Executor:
    def __init__(self, ctx, on_event=None):
        self.ctx = ctx
        self.registry = ctx.registry
        self.on_event = on_event or (lambda event, change, outcome=None, message=None: None)
        self.interrupted = False

    def _on_signal(self, signum, frame):
        """Ctrl-C or SIGTERM: start nothing new and let calls in flight finish; a second one aborts."""
        if self.interrupted:
            self.on_event("interrupt", None, message="aborted: calls in flight may have completed; "
                                                     "apply again (the lock left behind is taken over)")
            os._exit(ExitCode.INTERRUPTED)
        self.stop("interrupted: letting calls in flight finish, starting nothing new (Ctrl-C again to abort)")

    def stop(self, message: str) -> None:
        """Start nothing new (callable from any thread): what was not started is reported as such."""
        self.interrupted = True
        self.on_event("interrupt", None, message=message)

    def run(self, changes: list[Change]) -> list[Outcome]:
        handled = (signal.SIGINT, signal.SIGTERM)
        try:
            previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        except ValueError:   # not the main thread: signals are the caller's business
            previous = {}
        try:
            return self._run(changes)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run(self, changes: list[Change]) -> list[Outcome]:
        changes = [c for c in changes if c.action != NOOP]
        deps = _dependencies(changes, self.registry)
        outcomes: dict[str, Outcome] = {}
        running: dict = {}

        def finish(outcome: Outcome):
            outcomes[outcome.change.address] = outcome
            self.on_event(outcome.status, outcome.change, outcome)

        with concurrent.futures.ThreadPoolExecutor(max(1, self.ctx.options.parallelism)) as pool:
            while len(outcomes) < len(changes):
                for change in changes:
                    if self.interrupted or len(running) >= self.ctx.options.parallelism:
                        break
                    if change.address in outcomes or change in running.values():
                        continue
                    waiting = deps[change.address] - outcomes.keys()
                    if waiting:
                        continue
                    failed = sorted(d for d in deps[change.address] if outcomes[d].status != "done")
                    if failed and change.action != DELETE:
                        finish(Outcome(change, "skipped", error=f"depends on {', '.join(failed)}"))
                        continue
                    self.on_event("start", change)
                    running[pool.submit(self._run_one, change)] = change
                if not running:
                    for change in changes:   # interrupted: report what never started
                        if change.address not in outcomes:
                            finish(Outcome(change, "not_started"))
                    break
                # a short timeout so that an interruption stops the scheduling promptly
                done, _ = concurrent.futures.wait(running, timeout=0.5,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    finish(future.result())
        return [outcomes[c.address] for c in changes]

    def _run_one(self, change: Change) -> Outcome:
        started = time.monotonic()
        action = VERBS[change.action]
        try:
            self._apply(change)
            return Outcome(change, "done", time.monotonic() - started)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            message = str(AwsCallError(change.address, action, exc.operation_name,
                                       error.get("Code", "?"), error.get("Message", str(exc))))
        except NotEmulated as exc:
            message = f"Failed to {action} {change.address} ({exc.operation}): not implemented by this endpoint"
        except ProvisionerError as exc:
            message = f"Failed to {action} {change.address}: {exc}"
        except botocore.exceptions.BotoCoreError as exc:
            message = f"Failed to {action} {change.address}: {exc}"
        return Outcome(change, "failed", time.monotonic() - started, message)

    def _apply(self, change: Change) -> None:
        reconciler = self.registry[change.kind]
        ctx = self.ctx
        perform = Performer(ctx, change.address, reconciler.missing)
        if change.blocked:
            raise ProvisionerError(change.blocked)
        if change.action == DELETE:
            run(reconciler.delete(change.owned, ctx), perform)
            return
        desired = reconciler.normalize(ctx.resolve(change.desired))
        missing = _find_unknown(desired)
        if missing is not None:
            raise UnresolvedReference(
                f"{format_path(missing)} is still unknown before the {change.action} call "
                "(the resource it references did not produce it)")
        if change.action == CREATE:
            outputs = run(reconciler.create(change.node, desired, ctx), perform)
        elif change.action == UPDATE:
            # diffs computed at plan time may hold unknowns; recompute against the resolved desired
            ignore = tuple(change.node.ignore_changes) + tuple(reconciler.write_only)
            diffs = diff(desired, change.actual.props, ignore)
            outputs = run(reconciler.update(change.node, desired, change.actual, diffs, ctx), perform) if diffs else {}
        else:
            run(reconciler.delete(change.owned, ctx), perform)
            outputs = run(reconciler.create(change.node, desired, ctx), perform)
        ctx.set_outputs(change.address, outputs or {})


class _Shown:
    """The run's context for showing operations: what a write records for later (the lock's intents)
    is not there, so nothing but reads can happen."""

    intents = None

    def __init__(self, ctx):
        self._ctx = ctx

    def progress(self, address, message):
        pass

    def __getattr__(self, name):
        return getattr(self._ctx, name)


def operations_of(change: Change, ctx) -> list:
    """The operations applying this change would perform, as far as they are known before it runs
    (`plan -v`); None in the list where the rest depends on answers only AWS gives."""
    reconciler = ctx.registry[change.kind]
    if not all(inspect.isgeneratorfunction(getattr(reconciler, verb)) for verb in ("create", "update", "delete")):
        return [None]   # a reconciler that makes its calls itself: calling it would perform them
    shown = _Shown(ctx)
    steps = []
    if change.action in (DELETE, REPLACE) and change.owned is not None:
        steps.append(reconciler.delete(change.owned, shown))
    if change.action in (CREATE, REPLACE, UPDATE):
        desired = reconciler.normalize(ctx.resolve(change.desired))
        if change.action == UPDATE:
            steps.append(reconciler.update(change.node, desired, change.actual, list(change.diffs), shown))
        else:
            steps.append(reconciler.create(change.node, desired, shown))
    operations = []
    for step in steps:
        try:
            operations.extend(recorded(step))
        except ProvisionerError:   # a refusal: the apply reports it, the listing just stops there
            operations.append(None)
            break
    return operations
