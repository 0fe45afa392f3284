"""Operations as data: how the executor's Performer runs what reconcilers yield, against moto."""
import botocore.exceptions
import pytest

from provisioner.aws.retries import TRANSIENT, Transient, transient_for
from provisioner.engine.operations import Call, Performer, Together, recorded, run


@pytest.fixture
def ctx(aws, write_spec, engine):
    eng = engine(write_spec("version: 1\nproject: shop\nenvironment: dev\n"))
    eng.plan()
    return eng.last_ctx


def create_then_tag(name):
    url = (yield Call("sqs", "create_queue", {"QueueName": name}))["QueueUrl"]
    yield Call("sqs", "tag_queue", {"QueueUrl": url, "Tags": {"k": "v"}})
    return {"url": url}


def test_each_answer_goes_back_to_the_generator_and_its_return_is_the_result(ctx, aws):
    outputs = run(create_then_tag("shop-dev-a"), Performer(ctx, "sqs_queues.a"))
    assert outputs["url"].endswith("/shop-dev-a")
    assert aws("sqs").list_queue_tags(QueueUrl=outputs["url"])["Tags"] == {"k": "v"}


def one(operation):
    return (yield operation)


def test_together_runs_every_branch_and_answers_in_order(ctx, aws):
    def both():
        return (yield Together((create_then_tag("shop-dev-b"),
                                Call("sqs", "create_queue", {"QueueName": "shop-dev-c"}))))

    first, second = run(both(), Performer(ctx, "x"))
    assert first["url"].endswith("/shop-dev-b") and second["QueueUrl"].endswith("/shop-dev-c")


def test_missing_ok_accepts_only_the_kinds_not_found_codes(ctx):
    gone = Call("sqs", "delete_queue", {"QueueUrl": ctx.client("sqs").meta.endpoint_url + "/123456789012/nope"},
                missing_ok=True)
    missing = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
    assert run(one(gone), Performer(ctx, "q", missing)) is None
    with pytest.raises(botocore.exceptions.ClientError):
        run(one(gone), Performer(ctx, "q", ("SomethingElse",)))


def test_recorded_lists_the_calls_and_performs_none(ctx, aws):
    operations = recorded(create_then_tag("shop-dev-d"))
    assert [str(op) for op in operations] == ["sqs:CreateQueue", "sqs:TagQueue"]
    assert aws("sqs").list_queues().get("QueueUrls", []) == []


def error(code, message=""):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def test_transient_errors_match_by_code_and_message_and_permanent_texts_are_final():
    role = transient_for("lambda", "create_function")
    assert role.matches(error("InvalidParameterValueException", "The role defined cannot be assumed by Lambda."))
    assert not role.matches(error("InvalidParameterValueException", "Unzipped size must be smaller"))
    busy = transient_for("dynamodb", "update_table")
    assert busy.matches(error("ResourceInUseException", "Table is being updated"))
    assert not busy.matches(error("ResourceInUseException", "Cannot enable stream"))
    assert transient_for("s3", "put_bucket_versioning") is TRANSIENT[("s3", "*")]
    assert transient_for("sns", "create_topic") is None
    assert Transient((("X", None),), 1).matches(error("X"))


def test_a_together_inside_a_branch_runs_its_branches_in_turn(ctx, aws):
    def inner():
        return (yield Together((Call("sqs", "create_queue", {"QueueName": "shop-dev-e"}),
                                Call("sqs", "create_queue", {"QueueName": "shop-dev-f"}))))

    def outer():
        return (yield Together((inner(), Call("sqs", "create_queue", {"QueueName": "shop-dev-g"}))))

    (e, f), g = run(outer(), Performer(ctx, "x"))
    assert [e["QueueUrl"][-1], f["QueueUrl"][-1], g["QueueUrl"][-1]] == ["e", "f", "g"]
