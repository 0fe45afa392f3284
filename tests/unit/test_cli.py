"""The command line's own behaviour: usage errors, colour, help, completion (no AWS call)."""
from __future__ import annotations

import click
import pytest

from provisioner.cli import cli, main

SPEC = "specs/example.yaml"
# every verb with the arguments it needs to get as far as option parsing
VERBS = {
    "validate": [SPEC], "diff": [SPEC], "plan": [SPEC], "apply": [SPEC], "destroy": [SPEC],
    "outputs": [SPEC], "schema": [], "graph": [SPEC], "unlock": [SPEC],
    "local status": [], "local start": [], "local stop": [],
}
WITH_OUTPUT = ["diff", "plan", "apply", "destroy"]
NEED_SPEC = ["validate", "diff", "plan", "apply", "outputs", "graph", "destroy", "unlock"]


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exited:
        code = exited.code
    out, err = capsys.readouterr()
    return code, out, err


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
