"""API Gateway usage plans and API keys on moto: created with the stage, drift repaired, removed with the API."""
from __future__ import annotations

import pytest

from tests.reconcilers.helpers import pending_diffs, run_quartet, write_code
from tests.reconcilers.test_apigateway import HANDLERS, SPEC

API = "api_gateways.files"
PLAN = """    usage_plan:
      throttle: {rate: 100, burst: 200}
      quota: {limit: 10000, period: DAY}
      api_keys: [partner-a, partner-b]
"""
WITH_PLAN = SPEC.replace("    stage:\n      name: prod\n", PLAN + "    stage:\n      name: prod\n")


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"api.py": HANDLERS})
    return write_spec(WITH_PLAN)


def _plan(aws):
    plans = aws("apigateway").get_usage_plans()["items"]
    assert len(plans) == 1
    return plans[0]


def _key_names(aws, plan_id):
    return sorted(k["name"] for k in aws("apigateway").get_usage_plan_keys(usagePlanId=plan_id)["items"])


def test_usage_plan_with_keys_on_the_stage(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    plan = _plan(aws)
    api_id = aws("apigateway").get_rest_apis()["items"][0]["id"]
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "prod"}]
    assert (plan["throttle"]["rateLimit"], plan["throttle"]["burstLimit"]) == (100.0, 200)
    assert (plan["quota"]["limit"], plan["quota"]["period"]) == (10000, "DAY")
    assert _key_names(aws, plan["id"]) == ["shop-dev-files-partner-a", "shop-dev-files-partner-b"]


def test_usage_plan_drift_is_repaired(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    client = aws("apigateway")
    plan = _plan(aws)
    client.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "5"}])
    key = next(k for k in client.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
               if k["name"].endswith("partner-b"))
    client.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    diffs = pending_diffs(e.plan(), API)
    assert diffs["usage_plan.throttle.rate"] == (5.0, 100.0)
    assert diffs["usage_plan.api_keys"] == (["partner-a"], ["partner-a", "partner-b"])
    e.apply()
    assert not e.plan().has_changes
    assert _plan(aws)["throttle"]["rateLimit"] == 100.0


def test_key_removed_from_the_spec_is_deleted_and_destroy_removes_the_plan(spec_path, engine, aws, write_spec):
    engine(spec_path).apply()
    fewer = engine(write_spec(WITH_PLAN.replace("[partner-a, partner-b]", "[partner-a]"), "fewer.yaml"))
    fewer.apply()
    assert _key_names(aws, _plan(aws)["id"]) == ["shop-dev-files-partner-a"]
    assert [k["name"] for k in aws("apigateway").get_api_keys()["items"]] == ["shop-dev-files-partner-a"]
    fewer.destroy()
    assert aws("apigateway").get_usage_plans()["items"] == []
    assert aws("apigateway").get_api_keys()["items"] == []
