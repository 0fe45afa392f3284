"""The command line's own behaviour: usage errors, colour, help, completion (no AWS call)."""
from __future__ import annotations

from pathlib import Path

import click
import pytest

from provisioner.cli import cli
from tests.cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "specs" / "example.yaml")
# every verb with the arguments it needs to get as far as option parsing
VERBS = {
    "validate": [SPEC], "diff": [SPEC], "plan": [SPEC], "apply": [SPEC], "destroy": [SPEC],
    "outputs": [SPEC], "schema": [], "graph": [SPEC], "unlock": [SPEC],
    "local status": [], "local start": [], "local stop": [],
    "completion": ["bash"], "cache info": [], "cache clean": [],
}
WITH_OUTPUT = ["diff", "plan", "apply", "destroy"]
NEED_SPEC = ["validate", "diff", "plan", "apply", "outputs", "graph", "destroy", "unlock"]


def _leaves(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, f"{prefix}{name} ")
        else:
            yield prefix + name


def test_every_verb_is_covered_by_the_usage_tests():
    assert sorted(_leaves(cli)) == sorted(VERBS)


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_misspelt_option_is_a_usage_error_with_exit_1(verb, capsys):
    code, out, err = run(capsys, *verb.split(), *VERBS[verb], "--paralelism", "5")
    assert code == 1, err
    assert "No such option '--paralelism'" in err and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("verb", WITH_OUTPUT)
def test_a_bad_output_choice_is_a_usage_error_with_exit_1(verb, capsys):
    code, _, err = run(capsys, verb, *VERBS[verb], "-o", "yaml")
    assert code == 1, err
    assert "'yaml' is not one of 'text', 'json'" in err


def test_a_bad_graph_format_is_a_usage_error_with_exit_1(capsys):
    code, _, err = run(capsys, "graph", SPEC, "--format", "png")
    assert code == 1, err
    assert "'png' is not one of 'dot', 'mermaid'" in err


@pytest.mark.parametrize("verb", NEED_SPEC)
def test_a_missing_spec_is_a_usage_error_with_exit_1(verb, capsys):
    code, out, err = run(capsys, verb)
    assert code == 1, err
    assert "SPEC" in err and out == ""


def test_an_unknown_command_is_a_usage_error_with_exit_1(capsys):
    code, _, err = run(capsys, "aply", SPEC)
    assert code == 1
    assert "No such command 'aply'" in err


def test_help_of_the_group_documents_usage_errors_as_exit_1(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "1 error (usage error," in " ".join(out.split())


def test_a_short_typed_reference_is_named_as_written_once_per_place(capsys, tmp_path):
    spec = tmp_path / "refs.yaml"
    spec.write_text("version: 1\nproject: shop\nenvironment: dev\n"
                    "sqs_queues:\n  orders:\n    dead_letter: {queue: missing}\n"
                    "lambda_functions:\n  f:\n    code: %s/lambda_code/shop_orders\n    handler: orders.handler\n"
                    "    dead_letter_queue: {sqs_queue: nope}\n"
                    "    grants: [{dynamodb_table: nothere, access: read}]\n"
                    "sns_topics:\n  t: {kms_key: '${kms_keys.gone.arn}'}\n" % ROOT)
    code, _, err = run(capsys, "validate", str(spec))
    assert code == 1
    assert err.splitlines()[:-1] == [
        f"{spec}:6: sqs_queues.orders.dead_letter.queue: no resource 'missing' in sqs_queues (defined: orders)",
        f"{spec}:11: lambda_functions.f.dead_letter_queue.sqs_queue: no resource 'nope' in sqs_queues "
        "(defined: orders)",
        f"{spec}:12: lambda_functions.f.grants[0].dynamodb_table: no resource 'nothere' in dynamodb_tables "
        "(the spec has no dynamodb_tables)",
        f"{spec}:14: sns_topics.t.kms_key: reference ${{kms_keys.gone.arn}}: no resource 'gone' in kms_keys "
        "(the spec has no kms_keys)",   # written in full, so named in full
    ]   # not ${sqs_queues.missing.arn}, and not again for the function's generated role



def _groups(group: click.Group, prefix: str = ""):
    yield prefix.strip()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _groups(command, f"{prefix}{name} ")


@pytest.mark.parametrize("verb", sorted(VERBS) + sorted(_groups(cli)))
def test_every_help_has_examples_of_the_command_as_written(verb, capsys):
    code, out, _ = run(capsys, *verb.split(), "--help")
    assert code == 0
    examples = out.split("\n  Examples:\n", 1)[1].splitlines()   # after the options, kept line by line
    assert examples and all(line.startswith("    ") for line in examples if line), out
    assert any(line.strip().startswith(f"provisioner {verb}".strip()) for line in examples), out


@pytest.mark.parametrize("shell, marker", [
    ("bash", "_PROVISIONER_COMPLETE=bash_complete"),
    ("zsh", "#compdef provisioner"),
    ("fish", "_PROVISIONER_COMPLETE=fish_complete"),
])
def test_completion_prints_the_shell_script(shell, marker, capsys):
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0 and marker in out


@pytest.mark.parametrize("words, cword, expected", [
    ("provisioner ap", "1", ["plain,apply"]),
    ("provisioner completion ", "2", ["plain,bash", "plain,zsh", "plain,fish"]),
    ("provisioner diff --deta", "2", ["plain,--detail"]),
])
def test_the_completion_script_is_answered_by_the_command(words, cword, expected, capsys, monkeypatch):
    monkeypatch.setenv("_PROVISIONER_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", cword)
    code, out, _ = run(capsys)
    assert code == 0 and out.split() == expected
