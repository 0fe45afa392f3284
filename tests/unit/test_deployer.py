"""The Deployer against moto: a plan with changes is made again under the environment's lock, and a
declined confirmation changes nothing."""
from __future__ import annotations

from provisioner.engine.deployer import Deployer, Hooks
from provisioner.engine.factory import Factory, Settings

SPEC = """
    version: 1
    project: shop
    environment: dev
    sqs_queues:
      orders: {}
      invoices: {}
"""
LOCK = "/provisioner/shop/dev/lock"


def _deployer(path, **kwargs):
    factory = Factory(Settings(region="us-east-1"))
    spec = factory.load_spec(str(path))
    return Deployer(factory, spec.project, spec.environment, spec, **kwargs)


def _queues(aws) -> list[str]:
    return sorted(url.rsplit("/", 1)[1] for url in aws("sqs").list_queues().get("QueueUrls", []))


def test_a_plan_with_changes_is_made_again_under_the_lock_and_declining_it_applies_nothing(aws, write_spec):
    path = write_spec(SPEC)
    other = _deployer(path)._lock("apply")   # another run, alive, holding the environment's lock
    other.acquire()

    def other_run_finishes(message):
        """While this run waits for the lock, the other run creates one queue and gives the lock back."""
        other.release()
        _deployer(write_spec(SPEC.split("      invoices")[0], "orders.yaml")).apply(lambda plan: True)

    planned, asked = [], []

    def confirm(plan):
        asked.append((plan, aws("ssm").get_parameter(Name=LOCK)["Parameter"]["Value"]))
        return False

    deployer = _deployer(path, lock_timeout=30, hooks=Hooks(waiting=other_run_finishes, planned=planned.append))
    result = deployer.apply(confirm)

    (plan, held), = asked
    assert plan is result.plan and planned == [plan]
    assert {c.address: c.action for c in plan.pending} == {"sqs_queues.invoices": "create"}   # read under the lock
    assert '"command": "apply"' in held   # asked while holding the lock
    assert not result.confirmed and result.outcomes == []
    assert _queues(aws) == ["shop-dev-orders"]   # nothing applied
    assert aws("ssm").describe_parameters()["Parameters"] == []   # the lock was given back


def test_a_plan_without_changes_takes_no_lock_and_asks_nothing(aws, write_spec):
    path = write_spec(SPEC)
    _deployer(path).apply(lambda plan: True)
    asked = []
    result = _deployer(path).apply(lambda plan: asked.append(plan) or True)
    assert asked == [] and not result.plan.has_changes and result.outcomes == []
    assert _queues(aws) == ["shop-dev-invoices", "shop-dev-orders"]
