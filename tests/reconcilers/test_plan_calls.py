"""`plan -v` lists the API calls each change would make, and listing them performs none."""
from tests.cli import run

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  orders: {visibility_timeout: 60}
"""


def test_plan_verbose_lists_the_calls_without_making_them(aws, write_spec, capsys):
    spec = write_spec(SPEC)
    code, out, _ = run(capsys, "plan", str(spec), "-v", "--region", "us-east-1")
    assert code == 2
    assert "= sqs:CreateQueue(QueueName=shop-dev-orders, " in out
    assert aws("sqs").list_queues().get("QueueUrls", []) == []


def test_an_update_lists_only_the_call_that_writes_the_changed_field(aws, write_spec, capsys):
    spec = write_spec(SPEC)
    assert run(capsys, "apply", str(spec), "--yes", "--region", "us-east-1")[0] == 0
    url = aws("sqs").get_queue_url(QueueName="shop-dev-orders")["QueueUrl"]
    aws("sqs").set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})
    code, out, _ = run(capsys, "plan", str(spec), "-v", "--region", "us-east-1")
    calls = [line.strip() for line in out.splitlines() if line.strip().startswith("= ")]
    assert code == 2
    assert calls == [f'= sqs:SetQueueAttributes(QueueUrl={url}, Attributes={{"VisibilityTimeout": "60"}})  '
                     '# set VisibilityTimeout']
    assert aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"]["VisibilityTimeout"] == "5"


def test_without_verbose_no_calls_are_listed(aws, write_spec, capsys):
    code, out, _ = run(capsys, "plan", str(write_spec(SPEC)), "--region", "us-east-1")
    assert code == 2 and "= sqs:" not in out
