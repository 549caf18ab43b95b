"""The ``runbook`` command line: a thin adapter over the library.

Each command parses its options, calls the library and formats the result. Library
errors become one line on stderr and the exit code of DESIGN.md; a traceback only with
``--debug``. Heavy modules are imported inside the commands, so ``runbook --help`` is fast.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runbook import __version__
from runbook.errors import EXIT_FAILED, RunbookError

log = logging.getLogger("runbook")
Command = TypeVar("Command", bound=Callable[..., Any])


class _LogFormatter(logging.Formatter):
    """Warnings and errors read like the command's own lines (``Warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            label = "Error" if record.levelno >= logging.ERROR else "Warning"
            return f"{label}: {record.getMessage()}"
        return f"{record.levelname} {record.name}: {record.getMessage()}"


def _remember_config_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta["runbook.config_file"] = value


CONFIG_FILE_HELP = "The project's MkDocs config (default: mkdocs.yml or mkdocs.yaml here or above)."


def _config_file_option(*names: str) -> Callable[[Command], Command]:
    return click.option(
        *names,
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        is_eager=True,
        callback=_remember_config_file,
        help=CONFIG_FILE_HELP,
    )


def _jobs_option(batch_flag: str) -> Callable[[Command], Command]:
    """``-j/--jobs N`` of a due batch (``exec --due``, ``build --execute``)."""
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        metavar="N",
        help=f"With {batch_flag}: run up to N runbooks at once, each in its own kernel.",
    )


#: ``-f/--config-file``, as ``mkdocs`` takes it; ``exec`` keeps ``-f`` for its parameters file.
config_file_option = _config_file_option("-f", "--config-file")


class RunbookGroup(click.Group):
    """Renders library errors as ``Error: ...`` with their exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunbookError as exc:
            if ctx.meta.get("runbook.debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if ctx.meta.get("runbook.debug"):
                raise
            click.echo(
                f"Error: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                err=True,
            )
            ctx.exit(EXIT_FAILED)


@click.group(cls=RunbookGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runbook")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("-v", "--verbose", count=True, help="More log output.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@config_file_option
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int, quiet: bool) -> None:
    """Runbooks that prove themselves: run Markdown runbooks, record every run, publish the results."""
    ctx.meta["runbook.debug"] = debug
    ctx.meta["runbook.verbose"] = verbose
    level = logging.WARNING if quiet or not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler()  # this invocation's stderr
    handler.setFormatter(_LogFormatter())
    logging.basicConfig(level=level, handlers=[handler])  # MkDocs' and other libraries' lines
    log.handlers[:] = [handler]  # Runbook's own, also where the root logger is taken
    log.propagate = False
    log.setLevel(level)
    if not verbose:
        # The Jupyter stack's messages repeat what the run's own output says.
        for name in ("runbook.nbclient", "papermill", "traitlets"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _config_file() -> Path | None:
    """``-f/--config-file``, when given."""
    found: Path | None = click.get_current_context().meta.get("runbook.config_file")
    return found


def _project(*, write_cache: bool = True) -> Any:
    from runbook.source.project import Project

    return Project.discover(config_file=_config_file(), write_cache=write_cache)


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _standings(project: Any) -> list[Any]:
    from runbook import ops

    found = ops.standings(project)
    for warning in found.warnings:
        _warn(warning)
    return found.items


def _complete_slugs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a NAME: the project's runbook slugs (nothing is parsed)."""
    from click.shell_completion import CompletionItem

    try:
        project = _completion_project(ctx)
        return [CompletionItem(slug) for slug in sorted(project.sources) if slug.startswith(incomplete)]
    except Exception:  # completion never prints an error into the shell
        return []


def _complete_parameters(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ``-p``: ``name=`` for each parameter of the runbook NAME, with
    its help; past the ``=``, nothing (the value is the operator's)."""
    from click.shell_completion import CompletionItem

    # While -p waits for its value, click leaves the words it could not place in ctx.args.
    name = ctx.params.get("name") or next((a for a in ctx.args if not a.startswith("-")), None)
    if not name or "=" in incomplete:
        return []
    try:
        runbook = _completion_project(ctx).load(name, write_cache=False)
    except Exception:
        return []
    return [
        CompletionItem(f"{p.name}=", help=p.help or None)
        for p in runbook.parameters
        if p.name.startswith(incomplete)
    ]


def _complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ``--env``: the project's environment profiles."""
    from click.shell_completion import CompletionItem

    from runbook.run.environments import available

    try:
        names = available(_completion_project(ctx).environments_dir)
    except Exception:
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def _completion_project(ctx: click.Context) -> Any:
    from runbook.source.project import Project

    config_file = ctx.find_root().meta.get("runbook.config_file") or ctx.meta.get("runbook.config_file")
    return Project.discover(config_file=config_file, write_cache=False)


@cli.command("list")
@config_file_option
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects on stdout.")
@click.option(
    "--kind",
    type=click.Choice(["runbook", "training", "doc"]),
    help="Only notebooks of this kind: runbooks, training pages or docs.",
)
@click.option("--wide", is_flag=True, help="Every column (owner, risk, schedule), however wide the terminal.")
def list_command(as_json: bool, kind: str | None, wide: bool) -> None:
    """Runbooks and training pages with their kind, status and last run.

    A narrow terminal gets the slug, kind, title, status and last run; a wide one (or
    --wide) also the owner, risk and schedule. The last line counts them as the site does.
    """
    standings = [s for s in _standings(_project()) if kind is None or s.runbook.meta.kind == kind]
    if as_json:
        _emit_json([s.to_dict() for s in standings])
        return
    from runbook.console import notebook_counts, out, standings_table

    if not standings:
        out.print(f"no {kind} notebooks" if kind else "no runbooks yet")
        return
    out.print(standings_table(standings, wide=wide or out.width >= WIDE_LIST, width=out.width))
    out.print(notebook_counts(standings))


#: From this many columns ``runbook list`` shows every column without ``--wide``.
WIDE_LIST = 140


@cli.command("show")
@config_file_option
@click.argument("name", shell_complete=_complete_slugs)
@click.option("--json", "as_json", is_flag=True, help="Metadata, parameters, steps and runs as JSON.")
def show_command(name: str, as_json: bool) -> None:
    """Metadata, parameters, steps, recent runs and the command to run NAME."""
    from runbook import ops

    shown = ops.show(_project(), name)
    for warning in shown.warnings:
        _warn(warning)
    if as_json:
        data = shown.runbook.to_dict()
        data.pop("notebook")
        _emit_json({**data, "command": shown.command, "runs": [r.to_dict() for r in shown.runs]})
        return
    _print_show(shown.runbook, shown.runs, shown.command)


def _print_show(runbook: Any, runs: list[Any], command: str) -> None:
    from rich.markup import escape

    from runbook.console import out, table

    meta = runbook.meta
    out.print(f"[bold]{escape(meta.title)}[/] ({escape(runbook.slug)})")
    out.print(escape(meta.summary))
    facts = [
        ("file", runbook.path),
        ("kind", meta.kind + (f" ({meta.level})" if meta.level else "")),
        ("owner", meta.owner),
        ("risk", meta.risk),
        ("schedule", meta.schedule or "-"),
        ("timeout", meta.timeout or "-"),
        ("tags", ", ".join(meta.tags) or "-"),
        ("alerts", ", ".join(meta.alerts) or "-"),
        ("environments", ", ".join(meta.environments) if meta.environments else "any"),
    ]
    out.print(table(["", ""], [[k, escape(v)] for k, v in facts]))
    if runbook.parameters:
        out.print("\n[bold]Parameters[/]")
        rows = [
            [
                escape(p.name),
                p.type,
                "secret" if p.secret else escape(json.dumps(p.default, ensure_ascii=False)),
                escape(p.help),
            ]
            for p in runbook.parameters
        ]
        out.print(table(["name", "type", "default", "help"], rows))
    out.print("\n[bold]Steps[/]")
    rows = [
        [str(s.index + 1), escape(s.name), s.effect, f"{s.timeout_s:g}s" if s.timeout_s else "-"]
        for s in runbook.steps
    ]
    out.print(table(["#", "step", "effect", "timeout"], rows))
    out.print("\n[bold]Recent runs[/]")
    if runs:
        out.print(
            table(
                ["run", "status", "environment", "started", "took"],
                [[row[0], *row[2:6]] for row in map(_run_row, runs)],
            )
        )
    else:
        out.print("never run")
    out.print(f"\n[bold]Run it[/]\n{escape(command)}")


def _run_row(record: Any) -> list[str]:
    from rich.markup import escape

    from runbook.console import styled_status, when
    from runbook.record.standing import run_state

    took = f"{record.duration_s:.1f}s" if record.duration_s is not None else "-"
    return [
        record.run_id,
        escape(record.slug),
        styled_status(run_state(record)),
        escape(record.environment or "-"),
        when(record.started_at),
        took,
        escape(record.operator.get("user", "?")),
    ]


class _RunsGroup(click.Group):
    """``runbook runs [NAME]`` lists run history; ``runs push`` and ``runs pull`` are subcommands.

    Anything after ``runs`` that is not a subcommand's name goes to the history listing
    (:attr:`history`), so ``runbook runs disk-space -n 5`` reads as it always did.
    """

    def __init__(self, *args: Any, history: click.Command, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history = history

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return "", self.history, args

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """``push``, ``pull`` and the runbook names the history listing takes."""
        items: list[Any] = list(super().shell_complete(ctx, incomplete))
        if not incomplete.startswith("-"):
            items += _complete_slugs(ctx, self.history.params[0], incomplete)
        return items

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] [NAME]")
        formatter.write_usage(ctx.command_path, "push|pull [OPTIONS]", prefix="   or: ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        seen: set[str] = set()
        records = []
        for param in [*self.history.get_params(ctx), *self.get_params(ctx)]:
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None and record[0] not in seen:
                seen.add(record[0])
                records.append(record)
        with formatter.section("Options"):
            formatter.write_dl(records)
        self.format_commands(ctx, formatter)


class _HistoryContext(click.Context):
    """The history listing's context: it is ``runbook runs`` itself in usage and help lines."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else super().command_path


class _History(click.Command):
    """The history listing, reached as ``runbook runs [OPTIONS] [NAME]``."""

    context_class = _HistoryContext


@click.command("runs", cls=_History)
@config_file_option
@click.argument("name", required=False, shell_complete=_complete_slugs)
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs."
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of run records on stdout.")
def runs_command(name: str | None, limit: int, as_json: bool) -> None:
    """Run history from the store, newest first (of NAME, or of every runbook)."""
    from runbook import ops

    found = ops.history(_project(), name, limit)
    for warning in found.warnings:
        _warn(warning)
    records = found.records
    if as_json:
        _emit_json([r.to_dict() for r in records])
        return
    from runbook.console import out, table

    if not records:
        out.print("no runs yet")
        return
    out.print(
        table(
            ["run", "runbook", "status", "environment", "started", "took", "by"],
            [_run_row(r) for r in records],
        )
    )


@cli.group(
    "runs",
    cls=_RunsGroup,
    invoke_without_command=True,
    context_settings={"ignore_unknown_options": True},
    history=runs_command,
)
@config_file_option
@click.pass_context
def runs_group(ctx: click.Context) -> None:
    """Run history from the store, newest first (of NAME, or of every runbook).

    `runbook runs push` sends the runs kept on this machine to the shared store, `runbook
    runs pull --to DIR` copies the shared history into a folder. A runbook named push or
    pull is listed by its path: `runbook runs runbooks/push.md`.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(runs_command)


@runs_group.command("push")
@config_file_option
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, file_okay=False),
    help="Send the runs of this runs folder (a migration) instead of those kept in .runbook/outbox.",
)
def push_command(source: Path | None) -> None:
    """Send the runs kept on this machine to the shared run store.

    A run is kept in .runbook/outbox when the shared store could not be reached as it
    ended (exit code 75); each one leaves the outbox once the store has its record. A run
    the store already has is not sent again. The store is `plugins.runbook.runs` or
    RUNBOOK_RUNS; with --from it may be a folder too.
    """
    from runbook import ops

    transfer = ops.push(_project(), source, report=_report)
    _finish_transfer(transfer, "pushed")


@runs_group.command("pull")
@config_file_option
@click.option(
    "--to",
    "into",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The folder to copy the runs into (created when missing).",
)
def pull_command(into: Path) -> None:
    """Copy the shared run history into a folder.

    For reading offline (`RUNBOOK_RUNS=DIR runbook serve`) or a migration. Runs the
    folder already has are neither fetched again nor overwritten.
    """
    from runbook import ops

    transfer = ops.pull(_project(), into, report=_report)
    _finish_transfer(transfer, "pulled")


def _finish_transfer(transfer: Any, verb: str) -> None:
    for warning in transfer.warnings:
        _warn(warning)
    click.echo(transfer.summary(verb), err=True)


@cli.command("due")
@config_file_option
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects on stdout.")
def due_command(as_json: bool) -> None:
    """Runbooks whose schedule says they are due: never run, failed, stale or changed."""
    due = [s for s in _standings(_project()) if s.due]
    if as_json:
        _emit_json([s.to_dict() for s in due])
        return
    from rich.markup import escape

    from runbook.console import out, styled_status, table

    if not due:
        out.print("nothing is due")
        return
    rows = [
        [
            escape(s.runbook.slug),
            styled_status(s.state),
            "yes" if s.changed else "",
            s.runbook.meta.schedule or "-",
        ]
        for s in due
    ]
    out.print(table(["runbook", "status", "changed", "schedule"], rows))


@cli.command("metrics")
@config_file_option
@click.argument("names", nargs=-1, metavar="[NAME]...", shell_complete=_complete_slugs)
@click.option(
    "--textfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (atomically) for node_exporter's textfile collector.",
)
@click.option("--pushgateway", metavar="URL", help="Push-add to this Prometheus Pushgateway instead.")
def metrics_command(names: tuple[str, ...], textfile: Path | None, pushgateway: str | None) -> None:
    """Prometheus metrics of the runbooks NAME... (default: all), per environment.

    Prints the text exposition format unless --textfile or --pushgateway says where they go.
    A Pushgateway that cannot take the push, or a file that cannot be written, is one
    error line and exit code 74.
    """
    from runbook.metrics import export

    done = export(_project(), names, textfile=textfile, pushgateway=pushgateway)
    if done.written is not None:
        click.echo(f"wrote metrics of {done.series_of} runbook environments to {done.written}", err=True)
    if done.pushed_to is not None:
        click.echo(f"pushed metrics of {done.series_of} runbook environments to {done.pushed_to}", err=True)
    if done.text:
        click.echo(done.text, nl=False)


def _confirm(slug: str, risk: str) -> bool:
    """Ask on a terminal; destructive runbooks need their slug typed."""
    if risk == "destructive":
        typed = click.prompt(
            f"{slug} is destructive. Type its name to run it", default="", show_default=False, err=True
        )
        return bool(typed == slug)
    return click.confirm(f"{slug} is {risk} or has write steps. Run it?", default=False, err=True)


def _ask_secret(name: str, help_text: str) -> str:
    """Ask for a secret without echoing it; empty keeps the runbook's default."""
    label = f"{name} ({help_text})" if help_text else name
    return str(click.prompt(f"Secret {label}", default="", show_default=False, hide_input=True, err=True))


@cli.command("exec")
@_config_file_option("--config-file")
@click.argument("name", required=False, shell_complete=_complete_slugs)
@click.option(
    "-p",
    "--param",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a parameter (repeatable).",
    shell_complete=_complete_parameters,
)
@click.option("-f", "--params-file", type=click.Path(path_type=Path), help="YAML file of parameter values.")
@click.option(
    "--env",
    "environment",
    metavar="NAME",
    help="Environment profile (default: local, when it exists).",
    shell_complete=_complete_profiles,
)
@click.option(
    "--host", metavar="NAME", help="Apply the profile's hosts.NAME values (default: this machine's)."
)
@click.option(
    "--dry-run", is_flag=True, help="Validate and show the resolved parameters and steps; run nothing."
)
@click.option(
    "--yes", "assume_yes", is_flag=True, help="Confirm mutating runbooks and write steps without asking."
)
@click.option("--timeout", metavar="DURATION", help="Whole-run limit: seconds, or 90s, 10m, 2h.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON on stdout.")
@click.option("--due", is_flag=True, help="Run every runbook that is due, one after another.")
@_jobs_option("--due")
@click.pass_context
def exec_command(
    ctx: click.Context,
    name: str | None,
    assignments: tuple[str, ...],
    params_file: Path | None,
    environment: str | None,
    host: str | None,
    dry_run: bool,
    assume_yes: bool,
    timeout: str | None,
    as_json: bool,
    due: bool,
    jobs: int,
) -> None:
    """Run the runbook NAME (a slug or a path) and record the run."""
    from runbook.run.execute import ExecOptions
    from runbook.run.params import parse_assignments

    if due == bool(name):
        raise click.UsageError("give a runbook NAME, or --due to run every runbook that is due")
    if jobs != 1 and not due:
        raise click.UsageError("-j/--jobs runs several runbooks at once: it goes with --due")
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    options = ExecOptions(
        environment=environment,
        assignments=parse_assignments(assignments),
        params_file=params_file,
        timeout=timeout,
        assume_yes=assume_yes,
        confirm=_confirm if interactive else None,
        ask_secret=_ask_secret if interactive else None,
        host=host,
    )
    if due:
        ctx.exit(_exec_due(_project(write_cache=not dry_run), options, dry_run, as_json, jobs))
    ctx.exit(_exec_one(name or "", options, dry_run, as_json))


def _verbose() -> bool:
    """``-v`` was given: a failed step shows its whole traceback."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get("runbook.verbose"))


def _observer() -> Any:
    from runbook.console import ExecObserver

    observer = ExecObserver(verbose=_verbose())
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(observer.stop)  # the live line ends even when the run could not be stored
    return observer


def _exec_one(name: str, options: Any, dry_run: bool, as_json: bool) -> int:
    from runbook import ops

    if dry_run:
        project = _project(write_cache=False)
        _print_plan(project, ops.plan_one(project, name, options), as_json)
        return 0
    from runbook.errors import KeptLocally

    try:
        # The project as its config file: the kernel boots while the config is read.
        record = ops.run_one(_config_file(), name, options, _observer)
    except KeptLocally as kept:
        if as_json:
            _emit_json(kept.record.to_dict())
        raise
    if as_json:
        _emit_json(record.to_dict())
    return int(record.exit_code)


def _exec_due(project: Any, options: Any, dry_run: bool, as_json: bool, jobs: int) -> int:
    """Run every due runbook, ``jobs`` at a time (:func:`runbook.ops.run_due`); the batch's
    exit code.

    With ``--json``, stdout holds one JSON list of the records; skips, errors and the
    summary go to stderr.
    """

    def show_plan(planned: Any) -> None:
        _print_plan(project, planned, as_json)

    batch = _run_due(project, options, jobs, dry_run=show_plan if dry_run else None)
    if dry_run:
        return 0
    if as_json:
        _emit_json([r.to_dict() for r in batch.records])
    _print_batch_end(batch, jobs)
    return int(batch.exit_code)


def _run_due(project: Any, options: Any, jobs: int, dry_run: Any = None) -> Any:
    """:func:`runbook.ops.run_due`; with ``jobs`` above 1, every line a run prints starts
    with its runbook's name, and whole lines from several runs never mix."""
    from runbook import ops

    if jobs == 1:
        return ops.run_due(project, options, _observer, report=_report, dry_run=dry_run)
    import threading
    from functools import partial

    from runbook.console import prefixed_observer

    lock = threading.Lock()
    verbose = _verbose()

    def report(line: str) -> None:
        with lock:
            _report(line)

    def observer_for(slug: str) -> Callable[[], Any]:
        return partial(prefixed_observer, slug, lock, verbose)

    return ops.run_due(
        project, options, _observer, report=report, dry_run=dry_run, jobs=jobs, observer_for=observer_for
    )


def _print_batch_end(batch: Any, jobs: int) -> None:
    """With ``jobs`` above 1, a table of the batch's runbooks; then its one-line summary."""
    if jobs > 1:
        from runbook.console import batch_table, err

        records = {r.slug: r for r in batch.records}
        skipped, errors = dict(batch.skipped), dict(batch.errors)
        rows = []
        for slug in batch.due:
            if slug in records:
                rows.append((slug, records[slug].status, records[slug].duration_s))
            elif slug in skipped or slug in errors:
                rows.append((slug, "skipped" if slug in skipped else "not run", None))
        err.print(batch_table(rows))
    click.echo(batch.summary(), err=True)


def _report(line: str) -> None:
    click.echo(line, err=True)


def _print_plan(project: Any, planned: Any, as_json: bool) -> None:
    from runbook import ops
    from runbook.record.model import masked_parameters
    from runbook.run.execute import needs_confirmation

    runbook = planned.runbook
    values = masked_parameters(runbook, planned.values)
    confirmation = needs_confirmation(runbook)
    for warning in planned.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        _emit_json(
            {
                "runbook": runbook.slug,
                "environment": planned.environment.name if planned.environment else None,
                "parameters": values,
                "sources": planned.sources,
                "timeout_s": planned.timeout_s,
                "needs_confirmation": confirmation,
                "steps": [
                    {"name": s.name, "effect": s.effect, "timeout_s": s.timeout_s} for s in runbook.steps
                ],
                "command": ops.shortest_command(
                    project,
                    runbook,
                    planned.public_values,
                    planned.environment.name if planned.environment else None,
                ),
            }
        )
        return
    from rich.markup import escape

    from runbook.console import out, table

    env = planned.environment.name if planned.environment else "no environment"
    out.print(
        f"[bold]Dry run[/] of {escape(runbook.slug)} in {escape(env)}: nothing runs, nothing is written"
    )
    rows = [
        [escape(k), escape(json.dumps(v, ensure_ascii=False)), escape(planned.sources[k])]
        for k, v in values.items()
    ]
    if rows:
        out.print(table(["parameter", "value", "from"], rows))
    out.print(
        table(["#", "step", "effect"], [[str(s.index + 1), escape(s.name), s.effect] for s in runbook.steps])
    )
    if planned.timeout_s:
        out.print(f"time limit: {planned.timeout_s:g}s")
    if confirmation:
        out.print(f"a real run needs confirmation or --yes: {escape(confirmation)}")


@cli.command("new")
@config_file_option
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["runbook", "training", "faq"]),
    default="runbook",
    show_default=True,
    help="A runbook, a training page or an FAQ category.",
)
@click.option("--title", help="Its title (default: from NAME).")
@click.option("--owner", help="The team or person to escalate to (default: you).")
@click.option(
    "--level",
    type=click.Choice(["L1", "L2", "L3", "L4"]),
    default="L1",
    show_default=True,
    help="With --kind training: the support-level track.",
)
def new_command(name: str, kind: str, title: str | None, owner: str | None, level: str) -> None:
    """Write a new runbook, training page or FAQ category from a template.

    NAME is lower-case words with dashes; a runbook's may start with folders
    (db/failover -> runbooks/db/failover.md). Training pages go to
    docs/training/<level>/NAME.md, FAQ categories to docs/faq/NAME.yml. An existing file
    is never overwritten.
    """
    import getpass

    from runbook.scaffold import new

    made = new(_project(), name, kind, title=title, owner=owner or getpass.getuser(), level=level)
    click.echo(f"wrote {made.path}", err=True)
    then = f" and `runbook exec {made.slug}`" if made.kind != "faq" else ""
    click.echo(f"next: edit it, then `runbook check {made.path}`{then}", err=True)


@cli.command("check")
@config_file_option
@click.option(
    "--alerts",
    "alerts",
    is_flag=True,
    help="PATHS are Prometheus rule files: also check that every alert has a runbook.",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def check_command(paths: tuple[Path, ...], alerts: bool) -> None:
    """Lint runbooks, profiles and the FAQ: front matter, parameters, links, hard-coded secrets.

    Prints one `file:line: message` per finding (every problem of every file at once),
    then what was checked; exits 1 when there are any findings. PATHS
    (as pre-commit passes them) limit the check to those files. With --alerts, PATHS are
    Prometheus rule files instead: the whole project is checked, and so is every alert
    (it has a runbook, its runbook_url is a runbook page, a runbook's alerts exist).
    """
    from runbook import ops

    if alerts and not paths:
        raise click.UsageError(
            "--alerts needs Prometheus rule files, e.g. deploy/prometheus/runbook-rules.yml"
        )
    if alerts:
        checked = ops.check(_project(), None, list(paths))
    else:
        checked = ops.check(_project(), list(paths) or None)
    for finding in checked.findings:
        click.echo(f"{finding.path}:{finding.line}: {finding.message}")
    click.echo(checked.summary(), err=True)
    if checked.findings:
        raise SystemExit(EXIT_FAILED)


@cli.command("schedule")
@config_file_option
@click.option(
    "--image", required=True, help="Container image with the handbook and runbook as its entrypoint."
)
@click.option("--env", "environment", required=True, metavar="NAME", help="Environment profile the runs use.")
@click.option(
    "--secret",
    default="runbook-secrets",
    show_default=True,
    help="Kubernetes Secret with the secret parameters, one key per parameter name.",
)
@click.option("--namespace", metavar="NS", help="Namespace of the CronJobs (default: kubectl's).")
@click.option(
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Also schedule mutating runbooks and write steps, run with --yes.",
)
def schedule_command(
    image: str, environment: str, secret: str, namespace: str | None, assume_yes: bool
) -> None:
    """Print a Kubernetes CronJob (YAML) for each runbook with a schedule.

    Pipe it to `kubectl apply -f -`. Runbooks that need a confirmation are left out, as
    a comment, unless --yes is given.
    """
    from runbook import ops
    from runbook.schedule import NOTHING_LEFT, NOTHING_SCHEDULED, to_yaml

    found = ops.schedule(
        _project(), image, environment, secret=secret, namespace=namespace, assume_yes=assume_yes
    )
    for warning in found.warnings:
        _warn(warning)
    if not found.scheduled:
        click.echo(NOTHING_SCHEDULED, err=True)
        return
    header = [f"runbook schedule --image {image} --env {environment}: {len(found.cronjobs)} CronJobs"]
    click.echo(to_yaml(found, header), nl=False)
    for line in found.skipped:
        _warn(line)
    if not found.cronjobs:
        click.echo(NOTHING_LEFT.format(count=len(found.skipped)), err=True)


@cli.command("render")
@config_file_option
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="New folder for the docs tree."
)
def render_command(out: Path) -> None:
    """Write the docs folder with every generated page, for any site builder.

    `mkdocs build` over OUT (as docs_dir), without the plugin, gives the same site.
    """
    from runbook import ops

    count = ops.render_to(_project(), out)
    click.echo(f"wrote {count} generated files and the docs folder to {out}", err=True)


_engine_option = click.option(
    "--engine",
    type=click.Choice(["mkdocs", "properdocs", "zensical"]),
    default="mkdocs",
    show_default=True,
    help="Site builder; properdocs and zensical build the rendered pages (README: Engines).",
)


@cli.command("build")
@config_file_option
@click.option(
    "--strict", is_flag=True, help="Fail on any warning: broken links, unknown runbooks in the FAQ."
)
@click.option(
    "--execute",
    "run_due",
    is_flag=True,
    help="First run every notebook that is due (read-only ones; mutating ones too with --yes).",
)
@click.option(
    "--yes", "assume_yes", is_flag=True, help="With --execute: also run mutating ones and write steps."
)
@click.option("--env", "environment", metavar="NAME", help="With --execute: the environment profile.")
@click.option("--site-dir", type=click.Path(path_type=Path), help="Build into this folder (default: site/).")
@_jobs_option("--execute")
@_engine_option
@click.option(
    "--fail-on-failed-runs",
    is_flag=True,
    help="With --execute: exit non-zero, as exec --due does, when a notebook failed (the site is built).",
)
@click.pass_context
def build_command(
    ctx: click.Context,
    strict: bool,
    run_due: bool,
    assume_yes: bool,
    environment: str | None,
    site_dir: Path | None,
    jobs: int,
    engine: str,
    fail_on_failed_runs: bool,
) -> None:
    """Render the runbooks, runs, FAQ and training, and build the site (MkDocs by default).

    With --execute, first runs what is due (as `exec --due` does, without prompting). A
    notebook that fails is shown as failed on its page and named in the last line; the
    build still exits 0, unless --fail-on-failed-runs is given: then it exits with the
    batch's exit code (1 when a step failed).
    """
    from runbook import ops

    if jobs != 1 and not run_due:
        raise click.UsageError("-j/--jobs runs several notebooks at once: it goes with --execute")
    if fail_on_failed_runs and not run_due:
        raise click.UsageError("--fail-on-failed-runs judges the notebooks it runs: it goes with --execute")
    project = _project()
    batch = None
    if run_due:
        from runbook.run.execute import ExecOptions

        options = ExecOptions(environment=environment, assume_yes=assume_yes)
        batch = _run_due(project, options, jobs)
        _print_batch_end(batch, jobs)
        if batch.stopped:
            ctx.exit(batch.exit_code)
    folder = ops.build(project, strict=strict, site_dir=site_dir, engine=engine)
    click.echo(f"built the site in {folder}", err=True)
    if batch is not None and batch.failed:
        ctx.exit(_report_failed_runs(batch, fail_on_failed_runs))


BUILT_WITH_FAILED_RUNS = (
    "Warning: built the site with {count} that failed, shown as failed on {pages}: {names} "
    "(--fail-on-failed-runs makes that fail the build)"
)
FAILED_BUILD = "Error: built the site, but {count} failed: {names}; see {pages}"


def _report_failed_runs(batch: Any, fail: bool) -> int:
    """Name the notebooks of ``build --execute`` that failed; the build's exit code."""
    failed = [r.slug for r in batch.records if r.status != "succeeded"]
    failed += [f"{slug} (not run)" for slug, _ in batch.errors]
    one = len(failed) == 1
    count = f"{len(failed)} notebook{'' if one else 's'}"
    words = {"count": count, "names": ", ".join(failed), "pages": "its page" if one else "their pages"}
    click.echo((FAILED_BUILD if fail else BUILT_WITH_FAILED_RUNS).format(**words), err=True)
    return int(batch.exit_code) if fail else 0


@cli.command("serve")
@config_file_option
@click.option("-a", "--dev-addr", metavar="IP:PORT", help="Address to serve on (default 127.0.0.1:8000).")
@_engine_option
@click.pass_context
def serve_command(ctx: click.Context, dev_addr: str | None, engine: str) -> None:
    """Live preview: rebuilds when runbooks, runs, profiles or docs change."""
    from runbook import ops

    _say_where_serving()
    ctx.exit(ops.serve(_project(), dev_addr, engine))


#: MkDocs' lines worth reading while ``serve`` runs (its other INFO lines stay quiet).
SERVE_LINES = ("Building documentation", "Watching paths for changes", "Serving on", "Detected file changes")


def _without_clock(message: str) -> str:
    """MkDocs' live-reload lines start with the time, ``[13:35:29] ``."""
    return message.split("] ", 1)[1] if message.startswith("[") and "] " in message[:12] else message


class _ServeFormatter(_LogFormatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return super().format(record)
        return _without_clock(record.getMessage())


def _say_where_serving() -> None:
    """Show MkDocs' own lines saying where the preview is served and what it watches."""
    if log.getEffectiveLevel() <= logging.INFO:
        return  # -v shows them already
    handler = logging.StreamHandler()
    handler.setFormatter(_ServeFormatter())
    handler.addFilter(
        lambda record: record.levelno >= logging.WARNING
        or _without_clock(record.getMessage()).startswith(SERVE_LINES)
    )
    for name in ("mkdocs.livereload", "mkdocs.commands.serve"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.handlers[:] = [handler]
        logger.propagate = False


def main() -> None:
    """Console script entry point."""
    try:
        cli(prog_name="runbook")
    finally:
        # The interpreter's collections at exit would walk every object the command
        # loaded (Jupyter, papermill, MkDocs): 0.2 s after a trivial exec here. What must
        # happen at exit is done by now or runs from an exit handler (logging's flush,
        # temporary folders' cleanup), and standard streams are flushed as always.
        gc.freeze()
