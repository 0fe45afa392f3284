"""CloudWatch dashboards: the calls of a create, of updates and of a delete, on fake state. Dashboards
carry no tags: their ownership is the marker widget the body ends with."""
import json

import pytest

from provisioner.engine.operations import run
from provisioner.errors import ProvisionerError
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
dashboards:
  main:
    widgets:
      - {type: text, properties: {markdown: hello}}
"""
NAME = "shop-dev-main"
ARN = f"arn:aws:cloudwatch::123456789012:dashboard/{NAME}"
MARKER = {"type": "text", "x": 0, "y": 6, "width": 24, "height": 1, "properties": {"markdown": (
    "Managed by provisioner: project=`shop` environment=`dev` resource=`dashboards.main`. "
    "Changes made here are overwritten by the next apply.")}}
BODY = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {"markdown": "hello"}},
                    MARKER]}
PUT = ("cloudwatch:PutDashboard", {"DashboardName": NAME,
                                   "DashboardBody": json.dumps(BODY, sort_keys=True, separators=(",", ":"))})


def in_sync(state) -> dict:
    return {"body": state.desired("dashboards.main")["body"]}


def test_create_is_one_put_dashboard_of_the_laid_out_body_with_its_marker(fake_state):
    assert shown(fake_state(SPEC).creates("dashboards.main")) == [PUT]


def test_a_widget_edited_elsewhere_is_put_back(fake_state):
    state = fake_state(SPEC)
    body = in_sync(state)["body"]
    edited = {**body["widgets"]["0"], "properties": {"markdown": "edited in the console"}}
    actual = {"body": {**body, "widgets": {**body["widgets"], "0": edited}}}
    assert shown(state.updates("dashboards.main", actual, {"arn": ARN})) == [PUT]


def test_a_lost_marker_is_written_again(fake_state):
    state = fake_state(SPEC)
    body = in_sync(state)["body"]
    actual = {"body": {**body, "widgets": {"0": body["widgets"]["0"]}}}
    assert shown(state.updates("dashboards.main", actual, {"arn": ARN})) == [PUT]


def test_an_unresolved_body_makes_no_call(fake_state):
    state = fake_state(SPEC)
    extra = {"_body": {"widgets": [{"type": "text", "properties": {"markdown": "${sqs_queues.x.name}"}}]}}
    with pytest.raises(ProvisionerError, match=r"body\.widgets\[0\]\.properties\.markdown is unresolved"):
        state.updates("dashboards.main", {"body": {}}, {"arn": ARN}, extra=extra)


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("dashboards.main", in_sync(state), {"arn": ARN}) == []


def deleted(state, found_body) -> list:
    """The operations of a delete when GetDashboard answers found_body."""
    performed = []

    def answer(operation):
        performed.append(operation)
        return {"DashboardBody": json.dumps(found_body), "DashboardArn": ARN}

    owned = OwnedResource("dashboards", "dashboards.main", NAME, ARN)
    run(state.registry["dashboards"].delete(owned, state.ctx), answer)
    return shown(performed)


def test_delete_reads_the_marker_first_and_deletes_only_a_dashboard_still_ours(fake_state):
    state = fake_state(SPEC)
    check = ("cloudwatch:GetDashboard", {"DashboardName": NAME})
    assert deleted(state, BODY) == [check, ("cloudwatch:DeleteDashboards", {"DashboardNames": [NAME]})]
    with pytest.raises(ProvisionerError, match="no longer carries this environment's marker"):
        deleted(state, {"widgets": []})
    [operation, rest] = state.deletes("dashboards", OwnedResource("dashboards", "dashboards.main", NAME, ARN))
    assert operation.missing_ok and rest is None   # shown only: what follows depends on the answer
