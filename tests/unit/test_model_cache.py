"""botocore's API models are kept parsed on disk (provisioner.aws.models.CachedModelFiles)."""
from __future__ import annotations

import os

import botocore.loaders

from provisioner.aws.models import CachedModelFiles
from provisioner.aws.session import Aws

SERVICE = os.path.join(os.path.dirname(botocore.__file__), "data", "sqs", "2012-11-05", "service-2")


def test_a_model_read_back_from_the_cache_is_the_parsed_json(tmp_path):
    parsed = botocore.loaders.JSONFileLoader().load_file(SERVICE)
    first = CachedModelFiles(tmp_path).load_file(SERVICE)
    assert first == parsed
    [cached] = list(tmp_path.iterdir())
    second = CachedModelFiles(tmp_path).load_file(SERVICE)
    assert second == parsed and type(second) is dict
    assert list(second["shapes"]) == list(parsed["shapes"])   # member order is kept
    assert cached.stat().st_size > 0


def test_an_unreadable_cache_entry_is_parsed_again_and_rewritten(tmp_path):
    CachedModelFiles(tmp_path).load_file(SERVICE)
    [cached] = list(tmp_path.iterdir())
    cached.write_bytes(b"\x00garbage")
    assert CachedModelFiles(tmp_path).load_file(SERVICE) == botocore.loaders.JSONFileLoader().load_file(SERVICE)
    assert CachedModelFiles(tmp_path).load_file(SERVICE)["metadata"]["serviceId"] == "SQS"
    assert cached.read_bytes() != b"\x00garbage"


def test_missing_files_are_none_and_clients_work_through_the_cache(tmp_path, monkeypatch):
    assert CachedModelFiles(tmp_path).load_file(SERVICE + "-nope") is None
    monkeypatch.setenv("PROVISIONER_CACHE_DIR", str(tmp_path))
    client = Aws("us-east-1", credentials={"aws_access_key_id": "a", "aws_secret_access_key": "b"}).client("sqs")
    assert client.can_paginate("list_queues")
    assert any((tmp_path / "botocore" / botocore.__version__).iterdir())


def test_the_lists_of_services_are_botocores_and_follow_a_new_models_folder(tmp_path, monkeypatch):
    import botocore.session

    from provisioner.aws.models import CachedLoader

    monkeypatch.setenv("PROVISIONER_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("AWS_DATA_PATH", str(models))
    plain = botocore.loaders.create_loader(str(models))
    for type_name in ("service-2", "waiters-2"):
        listed = CachedLoader.for_session(botocore.session.Session()).list_available_services(type_name)
        again = CachedLoader.for_session(botocore.session.Session()).list_available_services(type_name)
        assert listed == again == plain.list_available_services(type_name) and "dynamodb" in listed
    (models / "made-up" / "2030-01-01").mkdir(parents=True)   # a model the user adds: the folder's mtime moves
    (models / "made-up" / "2030-01-01" / "service-2.json").write_text("{}")
    assert "made-up" in CachedLoader.for_session(botocore.session.Session()).list_available_services("service-2")
