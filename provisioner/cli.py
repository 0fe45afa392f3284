"""Command line: parse options, call the engine, choose exit codes. No AWS code here."""
from __future__ import annotations

import atexit
import functools
import json
import os
import signal
import sys
import time
import traceback

import click

from provisioner import __version__
from provisioner.engine.deployer import Deployer, Hooks
from provisioner.engine.executor import operations_of
from provisioner.engine.factory import Factory, Settings
from provisioner.errors import ExitCode, Interrupted, ProvisionerError, SpecError
from provisioner.render import Style, calls_text, plan_json, plan_text

PAST = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}
ING = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}


class Failed(ProvisionerError):
    """A command that already printed its problems and only needs its exit code."""


def examples(*lines: str) -> str:
    """A command's epilog: an Examples section, printed as written (a paragraph after \\b is not rewrapped)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


def common_options(command):
    """Options accepted before or after the command name (the command's value wins)."""
    options = [
        click.option("--region", help="AWS region (default: the spec's region, then AWS_REGION)."),
        click.option("--profile", help="AWS named profile for real AWS."),
        click.option("--endpoint-url", help="Send every call to this endpoint (or set AWS_ENDPOINT_URL)."),
        click.option("--local", "use_local", is_flag=True, default=None,
                     help="Use the embedded AWS emulator (a moto server on 127.0.0.1, started if needed)."),
        click.option("-v", "--verbose", is_flag=True, default=None, help="Show tracebacks and more detail."),
        click.option("--no-color", is_flag=True, default=None,
                     help="No ANSI colours (also with NO_COLOR set, or when the output is not a terminal)."),
    ]
    for option in reversed(options):
        command = option(command)

    @functools.wraps(command)
    def wrapper(*args, region, profile, endpoint_url, use_local, verbose, no_color, **kwargs):
        settings = _settings(click.get_current_context())
        for name, value in (("region", region), ("profile", profile), ("endpoint_url", endpoint_url),
                            ("local", use_local), ("verbose", verbose)):
            if value is not None:
                setattr(settings, name, value)
        if no_color:
            settings.color = False
        _color_flag["enabled"] = settings.color
        return command(*args, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=examples("provisioner validate specs/example.yaml",
                             "provisioner diff specs/example.yaml --local",
                             "provisioner apply specs/example.yaml --environment pr-42 --yes",
                             "provisioner destroy --project shop --environment pr-42 --yes",
                             "provisioner COMMAND --help"))
@click.version_option(__version__, prog_name="provisioner")
@common_options
def cli():
    """Make AWS match one YAML spec of a serverless environment; show drift field by field;
    tear environments down by their ownership tags.

    \b
    Exit codes: 0 success (diff: in sync), 1 error (usage error, invalid spec, AWS error,
    refused), 2 diff: changes pending, 130 interrupted.
    """


def _factory() -> Factory:
    return Factory(_settings(click.get_current_context()))


_color_flag = {"enabled": True}   # False after --no-color; read from worker threads too


def _color(stream) -> bool:
    """Colour only on a terminal, never after --no-color or with NO_COLOR set and not empty (no-color.org)."""
    return _color_flag["enabled"] and not os.environ.get("NO_COLOR") and stream.isatty()


def _calls_shown(run_context):
    """With -v, what lists each change's API calls in a plan (run_context() gives the run's context)."""
    if not _settings(click.get_current_context()).verbose:
        return None
    return lambda change: operations_of(change, run_context())


def _style() -> Style:
    return Style(_color(sys.stdout))


def _err(message: str, fg: str | None = None) -> None:
    """Progress and diagnostics on stderr; callable from worker threads (no click context needed)."""
    colored = fg and _color(sys.stderr)
    click.echo(click.style(message, fg=fg) if colored else message, err=True)


def _load(factory, spec: str, environment: str | None):
    """The spec, loaded and checked (its warnings printed)."""
    loaded = factory.load_spec(spec, environment)
    _print_warnings(loaded)
    return loaded


def _print_warnings(spec) -> None:
    for warning in spec.warnings:
        _err(str(warning), "yellow")


environment_option = click.option(
    "--environment", "-e", envvar="PROVISIONER_ENVIRONMENT",
    help="Override the spec's environment (names and ownership carry it): one spec, many copies.")
output_option = click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="Output format.")


def spec_argument(command):
    """SPEC, and --environment to deploy another copy of it."""
    return click.argument("spec", type=click.Path(dir_okay=False))(environment_option(command))


detail_option = click.option(
    "--detail", is_flag=True,
    help="Show every field a create sets (defaults and tags too) and the ARN of each delete.")
lock_timeout_option = click.option(
    "--lock-timeout", type=click.FloatRange(0), default=0, show_default=True, metavar="SECONDS",
    help="Wait this long for another apply/destroy of the environment to finish (0: fail at once).")


@cli.command(epilog=examples("provisioner validate specs/example.yaml",
                             "provisioner validate specs/example.yaml --environment pr-42   # names with pr-42"))
@spec_argument
@common_options
def validate(spec, environment):
    """Check SPEC against the schema and the semantic rules. Makes no AWS call."""
    loaded = _load(_factory(), spec, environment)
    click.echo(f"{spec}: valid ({len(loaded.nodes)} resources, project {loaded.project}, "
               f"environment {loaded.environment})")


def _hooks(**kwargs) -> Hooks:
    """How a run's progress is shown: on stderr, from any thread."""
    return Hooks(progress=lambda address, message: _err(f"  .. {address}: {message}"),
                 waiting=lambda message: _err(f"  .. waiting: {message}"),
                 notice=lambda message: _err(f"  .. {message}", "yellow"), event=_on_event, **kwargs)


def _on_event(event, change, outcome=None, message=None) -> None:
    if event == "interrupt":
        _err(message, "yellow")
    elif event == "start":
        _err(f"  {ING[change.action]} {change.address} ...")
    elif event == "done":
        _err(f"  {PAST[change.action]} {change.address} ({outcome.seconds:.1f}s)", "green")
    elif event == "failed":
        _err(f"  FAILED {change.address}: {outcome.error}", "red")
    elif event == "skipped":
        _err(f"  skipped {change.address}: {outcome.error}", "yellow")


@cli.command(name="diff", epilog=examples(
    "provisioner diff specs/example.yaml                 # exit 0 in sync, 2 changes pending",
    "provisioner plan specs/example.yaml --detail        # every field of a create, defaults and tags too",
    "provisioner diff specs/example.yaml --local -o json",
    "provisioner diff specs/example.yaml; [ $? -eq 2 ] && echo drift"))
@spec_argument
@output_option
@click.option("--parallelism", type=click.IntRange(1, 64), default=10, show_default=True,
              help="Resources read at once.")
@click.option("--stats", is_flag=True, help="Print API calls by operation.")
@detail_option
@common_options
def diff_command(spec, environment, output, parallelism, stats, detail):
    """Show how AWS differs from SPEC, field by field (alias: plan).

    Exit 0 when AWS matches the spec, 2 when changes are pending, 1 on error.
    """
    factory = _factory()
    loaded = _load(factory, spec, environment)
    result = Deployer(factory, loaded.project, loaded.environment, loaded, parallelism=parallelism,
                      hooks=_hooks()).plan()
    ctx, plan = result.ctx, result.plan
    if output == "json":
        click.echo(json.dumps({**plan_json(plan), "api_calls": ctx.aws.counter.summary()}, indent=2))
    else:
        click.echo(plan_text(plan, _style(), detail=detail, operations_of=_calls_shown(lambda: ctx)))
        if stats:
            click.echo(calls_text(ctx.aws.counter.summary()))
    sys.exit(ExitCode.CHANGES if plan.has_changes else ExitCode.OK)


cli.add_command(diff_command, name="plan")


def _confirm(question: str, yes: bool) -> bool:
    """Whether the user agrees (always with --yes); without a terminal to ask, an error."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ProvisionerError(f"{question} needs confirmation: run from a terminal or pass --yes")
    return click.confirm(question, default=False)


def _confirmed(result) -> None:
    if not result.confirmed:
        raise Failed("cancelled; nothing was changed")


class Timing:
    """Wall time of a run: the plan (from the start of the command) and the changes; the time a
    confirmation prompt waits for its answer is neither."""

    def __init__(self, started: float):
        self.started = started
        self.plan_seconds = self.change_seconds = 0.0

    def planned(self) -> None:
        self.plan_seconds = time.monotonic() - self.started

    @property
    def seconds(self) -> float:
        return self.plan_seconds + self.change_seconds


def _summary(outcomes, timing, ctx) -> dict:
    done = [o for o in outcomes if o.status == "done"]
    addresses = {PAST[a]: sorted(o.change.address for o in done if o.change.action == a) for a in PAST}
    failed = [o for o in outcomes if o.status == "failed"]
    return {
        "result": "interrupted" if any(o.status == "not_started" for o in outcomes) else
                  "failed" if failed or any(o.status == "skipped" for o in outcomes) else "ok",
        **{past: len(done_here) for past, done_here in addresses.items()},
        "resources": addresses,
        "failed": [{"address": o.change.address, "error": o.error} for o in failed],
        "skipped": [{"address": o.change.address, "reason": o.error} for o in outcomes if o.status == "skipped"],
        "not_started": [o.change.address for o in outcomes if o.status == "not_started"],
        "seconds": round(timing.seconds, 2),
        "plan_seconds": round(timing.plan_seconds, 2),
        "api_calls": ctx.aws.counter.summary(),
        "warnings": list(ctx.warnings),
    }


def _report(summary: dict, output: str, verb: str, stats: bool, shown: list) -> None:
    """Print the summary; of the warnings, those the plan did not already show (shown)."""
    if output == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        calls = summary["api_calls"]
        counts = ", ".join(f"{summary[k]} {k}" for k in PAST.values() if summary[k]) or "no changes"
        click.echo(f"{verb} {summary['result']}: {counts} in {summary['seconds']:.1f}s "
                   f"(plan {summary['plan_seconds']:.1f}s), {calls['total']} API calls ({calls['writes']} writes)")
        for warning in summary["warnings"]:
            if warning not in shown:
                _err(f"warning: {warning}", "yellow")
        if stats:
            click.echo(calls_text(calls))
    for failure in summary["failed"]:
        _err(failure["error"], "red")
    if summary["not_started"]:
        _err(f"not started: {', '.join(summary['not_started'])}", "yellow")
        raise Interrupted() from None
    if summary["result"] != "ok":
        raise Failed(f"{verb} failed")


@cli.command(epilog=examples(
    "provisioner apply specs/example.yaml                # shows the plan, asks before changing anything",
    "provisioner apply specs/example.yaml --local --yes  # on the embedded emulator, no questions",
    "provisioner apply specs/example.yaml -e pr-42 --yes -o json",
    "provisioner apply specs/example.yaml --yes --lock-timeout 300 --parallelism 4"))
@spec_argument
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=10, show_default=True,
              help="Independent resources changed at once.")
@click.option("--allow-data-loss", is_flag=True,
              help="Allow pruning or replacing tables and queues that hold data.")
@click.option("--stats", is_flag=True, help="Print API calls by operation.")
@lock_timeout_option
@output_option
@detail_option
@common_options
def apply(spec, environment, yes, parallelism, allow_data_loss, stats, lock_timeout, output, detail):
    """Create, update and prune resources so that AWS matches SPEC.

    Prints the plan, asks for confirmation (unless --yes), then applies it in dependency
    order with independent resources in parallel. A second apply makes no write call.
    One apply or destroy changes an environment at a time: a run with changes takes the environment's
    lock (see `unlock`); a lock whose holder died is taken over.
    """
    timing = Timing(time.monotonic())
    factory = _factory()
    loaded = _load(factory, spec, environment)

    def planned(plan):
        timing.planned()
        if output == "text" or plan.has_changes:
            text = plan_text(plan, _style(), detail=detail, operations_of=_calls_shown(lambda: deployer.ctx))
            _err(text) if output == "json" else click.echo(text)

    deployer = Deployer(factory, loaded.project, loaded.environment, loaded, allow_data_loss=allow_data_loss,
                        parallelism=parallelism, lock_timeout=lock_timeout, hooks=_hooks(planned=planned))
    result = deployer.apply(lambda plan: _confirm(
        f"Apply {len(plan.pending)} changes to {plan.project}/{plan.environment}?", yes))
    _confirmed(result)
    timing.change_seconds = result.change_seconds
    _report(_summary(result.outcomes, timing, result.ctx), output, "apply", stats, result.plan.warnings)


@cli.command(epilog=examples(
    "provisioner destroy specs/example.yaml --dry-run    # what would be deleted",
    "provisioner destroy specs/example.yaml --yes",
    "provisioner destroy --project shop --environment pr-42 --yes   # no spec needed"))
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--project", "-p", help="Project to destroy (when no SPEC is given).")
@environment_option
@click.option("--dry-run", is_flag=True, help="List what would be deleted and stop.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=10, show_default=True,
              help="Resources deleted at once.")
@lock_timeout_option
@output_option
@detail_option
@common_options
def destroy(spec, project, environment, dry_run, yes, parallelism, lock_timeout, output, detail):
    """Delete everything the environment owns, found by its ownership tags.

    Give SPEC, or --project and --environment. Deletes in reverse dependency order, never touches
    a resource without this project's and environment's tags, and checks that nothing owned is left.
    """
    timing = Timing(time.monotonic())
    factory = _factory()
    loaded = None
    if spec:
        loaded = _load(factory, spec, environment)
        project, environment = loaded.project, loaded.environment
    elif not (project and environment):
        raise click.UsageError("give a SPEC, or both --project and --environment")

    def planned(plan):
        timing.planned()
        if output == "json" and dry_run:
            click.echo(json.dumps(plan_json(plan), indent=2))
            return
        text = plan_text(plan, _style(), title="Destroy", detail=detail,
                         operations_of=_calls_shown(lambda: deployer.ctx))
        _err(text) if output == "json" else click.echo(text)

    deployer = Deployer(factory, project, environment, loaded, parallelism=parallelism,
                        lock_timeout=lock_timeout, hooks=_hooks(planned=planned))
    result = deployer.destroy(lambda plan: _confirm(
        f"Destroy {len(plan.pending)} resources of {plan.project}/{plan.environment}?", yes), dry_run)
    if not result.plan.has_changes:
        if output == "text":
            click.echo("Nothing to destroy.")
        elif not dry_run:
            click.echo(json.dumps(_summary([], timing, result.ctx), indent=2))
        return
    if dry_run:
        return
    _confirmed(result)
    timing.change_seconds = result.change_seconds
    summary = _summary(result.outcomes, timing, result.ctx)
    summary["left"] = left = result.left
    if left and summary["result"] == "ok":
        summary["result"] = "failed"
        summary["failed"].append({"address": ", ".join(left), "error": f"still present after destroy: {left}"})
    _report(summary, output, "destroy", False, result.plan.warnings)


@cli.command(epilog=examples("provisioner unlock specs/example.yaml",
                             "provisioner unlock --project shop --environment pr-42"))
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--project", "-p", help="Project (when no SPEC is given).")
@environment_option
@common_options
def unlock(spec, project, environment):
    """Remove the environment's apply/destroy lock, whoever holds it.

    Rarely needed: a run that finds the lock of a run that died (its process gone from this machine,
    or its lease run out) takes it over by itself.
    """
    factory = _factory()
    loaded = factory.load_spec(spec, environment) if spec else None
    if loaded:
        project, environment = loaded.project, loaded.environment
    elif not (project and environment):
        raise click.UsageError("give a SPEC, or both --project and --environment")
    from provisioner.engine.lock import describe
    holder = factory.lock(project, environment, factory.region_for(loaded), "unlock").force_release()
    click.echo(f"removed the lock of {project}/{environment} held by {describe(holder)}" if holder
               else f"{project}/{environment} is not locked")


@cli.command(epilog=examples("provisioner outputs specs/example.yaml",
                             "provisioner outputs specs/example.yaml --local | jq -r '.[\"sqs_queues.orders\"].url'"))
@spec_argument
@common_options
def outputs(spec, environment):
    """Print physical names, ARNs and URLs of SPEC's resources as JSON (null: not created)."""
    factory = _factory()
    loaded = factory.load_spec(spec, environment)
    ctx = factory.context(loaded.project, loaded.environment, loaded)
    found = factory.planner(ctx).read_all(list(loaded.nodes.values()))
    result = {}
    for address, observed in found.items():
        result[address] = None if observed is None else {
            k: v for k, v in observed.outputs.items() if not k.startswith("_")}
    click.echo(json.dumps(result, indent=2, sort_keys=True))


@cli.command(epilog=examples("provisioner schema > spec.schema.json",
                             "# in a spec, for editor completion:",
                             "# yaml-language-server: $schema=./spec.schema.json"))
def schema():
    """Print the JSON Schema of the spec format."""
    from provisioner.spec.schema import load_schema
    click.echo(json.dumps(load_schema(), indent=2))


@cli.command(epilog=examples("provisioner graph specs/example.yaml | dot -Tsvg > graph.svg",
                             "provisioner graph specs/example.yaml --format mermaid"))
@spec_argument
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True)
def graph(spec, environment, fmt):
    """Print the dependency graph of SPEC as Graphviz DOT or Mermaid."""
    from provisioner.spec.graph import to_dot, to_mermaid
    loaded = _factory().load_spec(spec, environment)
    click.echo(to_dot(loaded) if fmt == "dot" else to_mermaid(loaded), nl=False)


@cli.group(name="local", epilog=examples("provisioner local status", "provisioner local stop"))
def local_group():
    """Manage the embedded AWS emulator used by --local.

    Each project folder (the nearest folder holding .git, else the current one) has its own
    emulator: these commands never see or stop another checkout's.
    """


@local_group.command(name="status", epilog=examples(
    "provisioner local status", "provisioner local status >/dev/null && echo running"))
def local_status():
    """Show whether this folder's emulator runs, and where. Exit 0 if it runs, 1 if not."""
    from provisioner import local
    running = local.status()
    if running:
        click.echo(f"running: {running['endpoint_url']} (pid {running['pid']}) for {running['folder']}")
    else:
        click.echo(f"not running for {local.project_folder()}")
        sys.exit(ExitCode.ERROR)


@local_group.command(name="start", epilog=examples("provisioner local start"))
def local_start():
    """Start the emulator (commands with --local start it on demand too)."""
    from provisioner import local
    click.echo(f"running: {local.ensure_running()}")


@local_group.command(name="stop", epilog=examples("provisioner local stop"))
def local_stop():
    """Stop this folder's emulator; its state is lost."""
    from provisioner import local
    click.echo("stopped" if local.stop() else "not running")


@cli.command(epilog=examples(
    "provisioner completion bash > ~/.local/share/bash-completion/completions/provisioner",
    "provisioner completion zsh > \"${fpath[1]}/_provisioner\"",
    "provisioner completion fish > ~/.config/fish/completions/provisioner.fish",
    "eval \"$(provisioner completion bash)\"                # this shell only"))
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell):
    """Print the shell completion script of SHELL (commands, options, choices and file names)."""
    from click.shell_completion import get_completion_class
    script = get_completion_class(shell)(cli, {}, "provisioner", "_PROVISIONER_COMPLETE").source()
    click.echo(script)


@cli.group(name="cache", epilog=examples("provisioner cache info", "provisioner cache clean"))
def cache_group():
    """Show or empty the disk cache (PROVISIONER_CACHE_DIR, default ~/.cache/provisioner).

    It only makes runs faster and is pruned by itself (entries unused for 30 days, the oldest beyond
    PROVISIONER_CACHE_MAX_MB, default 1024); the emulators' state under local/ is not part of it.
    """


@cache_group.command(name="info", epilog=examples("provisioner cache info"))
def cache_info():
    """Print where the cache is and what each part of it holds."""
    from provisioner import cache
    parts = cache.info()
    click.echo(f"{cache.cache_root()}: {_size_text(sum(p['bytes'] for p in parts.values()))} "
               f"(at most {_size_text(cache.max_bytes())}; entries unused for {cache.MAX_AGE_DAYS} days are pruned)")
    for section, part in parts.items():
        click.echo(f"  {section + '/':<10} {_size_text(part['bytes']):>9} {part['entries']:>6} entries  "
                   f"{cache.SECTIONS[section]}")


@cache_group.command(name="clean", epilog=examples("provisioner cache clean"))
def cache_clean():
    """Empty the cache (the next run rebuilds what it needs; running emulators are not touched)."""
    from provisioner import cache
    click.echo(f"removed {_size_text(cache.clean())} from {cache.cache_root()}")


def _size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> None:
    """Entry point: run the CLI and map every failure to one line and a named exit code."""
    import botocore.exceptions  # only for mapping errors to messages; no AWS calls here

    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    # SIGTERM (a CI job cancelled, a container stopped) takes the same path as Ctrl-C
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="provisioner", standalone_mode=False)
    except SpecError as exc:
        for diagnostic in exc.diagnostics + exc.warnings:
            click.echo(str(diagnostic), err=True)
        click.echo(f"{len(exc.diagnostics)} error(s); nothing was sent to AWS.", err=True)
        sys.exit(ExitCode.ERROR)
    except (Failed, Interrupted) as exc:   # the problems were printed already
        if str(exc):
            click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ProvisionerError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except botocore.exceptions.NoCredentialsError:
        click.echo("Error: no AWS credentials found. Set AWS_PROFILE or credentials, or use --local "
                   "for the embedded emulator.", err=True)
        sys.exit(ExitCode.ERROR)
    except botocore.exceptions.ClientError as exc:
        if verbose:
            traceback.print_exc()
        error = exc.response.get("Error", {})
        click.echo(f"Error: {exc.operation_name}: {error.get('Code')}: {error.get('Message')}", err=True)
        sys.exit(ExitCode.ERROR)
    except botocore.exceptions.BotoCoreError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.ERROR)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        # click gives usage errors (unknown option, bad choice, missing argument) exit 2, which is
        # diff's "changes pending": a typo must not read as drift in CI
        sys.exit(ExitCode.ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless -v
        if verbose:
            traceback.print_exc()
        click.echo(f"Internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True)
        sys.exit(ExitCode.ERROR)


def run() -> None:
    """Console entry point: main(), then leave without tearing the interpreter down. Freeing the API
    models of a dozen clients takes a few hundred milliseconds nobody needs; atexit handlers still run
    and the streams are flushed first."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe: nothing more can be said anyway
            pass
    os._exit(code)
