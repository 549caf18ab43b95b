"""The operations both adapters call: the command line and the site build.

Standings, show, history, plan one, run one, run what is due, push and pull runs, check,
render, build and serve. Each operation takes a :class:`~runbook.source.project.Project`
and plain options and returns plain values; formatting them is the caller's business.
There is one due loop, :func:`run_due`, behind ``runbook exec --due`` and ``runbook build
--execute``, with one rule: a runbook that needs a confirmation the batch cannot get, or
that may not run in the batch's environment, is skipped and reported, never run; the
batch's exit code is the worst outcome among the runbooks it tried.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_KEPT_LOCALLY,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STORE,
    EXIT_TERMINATED,
    EXIT_TIMED_OUT,
    EXIT_USAGE,
    GateRefused,
    KeptLocally,
    RunbookError,
    StoreError,
)

if TYPE_CHECKING:
    from runbook.record.model import RunRecord
    from runbook.record.standing import Standing
    from runbook.render.site import Site
    from runbook.render.text import Commands
    from runbook.run.execute import ExecOptions, Plan
    from runbook.schedule import Schedule as ScheduleResult
    from runbook.source.lint import Finding, Scope
    from runbook.source.model import Runbook
    from runbook.store import RunStore

from runbook.source.project import Project

log = logging.getLogger("runbook")

#: How bad an exit code is, for a batch's summary code: a stop beats a store fault beats
#: a timeout beats a failure beats bad input beats a refusal beats a run that succeeded
#: but waits in the outbox.
SEVERITY = (
    EXIT_OK,
    EXIT_KEPT_LOCALLY,
    EXIT_REFUSED,
    EXIT_USAGE,
    EXIT_FAILED,
    EXIT_TIMED_OUT,
    EXIT_STORE,
    EXIT_TERMINATED,
    EXIT_INTERRUPTED,
)
#: Exit codes that stop a batch: the operator or the scheduler asked it to stop.
STOPS = (EXIT_INTERRUPTED, EXIT_TERMINATED)

SKIP_CONFIRMATION = "{slug}: skipped, {why} needs a confirmation; pass --yes to run it"
SKIP_DECLINED = "{slug}: skipped, not confirmed"
SKIP_ENVIRONMENT = "{slug}: skipped, not allowed in '{env}' (its front matter allows: {allowed})"


def worst(codes: list[int]) -> int:
    """The worst of several exit codes (see :data:`SEVERITY`); 0 for none."""
    rank = {code: position for position, code in enumerate(SEVERITY)}
    return max(codes, key=lambda code: rank.get(code, rank[EXIT_FAILED]), default=EXIT_OK)


@dataclass
class Standings:
    """Every runbook's standing, and what could not be read on the way (one line each)."""

    items: list[Standing]
    warnings: list[str] = field(default_factory=list)


def open_store(project: Project) -> RunStore:
    """The project's run store."""
    from runbook.store import project_store

    return project_store(project)


def standings(project: Project, store: RunStore | None = None) -> Standings:
    """Where each runbook stands: its latest run, staleness, next due date.

    A runbook that cannot be parsed, a name two files share and a run the store could not
    read are left out and named in ``warnings``.
    """
    from runbook.record.standing import standing

    store = store or open_store(project)
    runs = store.by_slug()
    warnings = [
        f"runbook name '{slug}' is used by {', '.join(project.relative(p) for p in paths)}; rename one"
        for slug, paths in project.clashes().items()
    ]
    runbooks = project.runbooks(on_error=lambda exc: warnings.append(f"skipped {exc}"))
    warnings += store.problems
    items = [standing(rb, runs.get(rb.slug, [])) for rb in runbooks]
    return Standings(items, warnings)


@dataclass
class Shown:
    """``runbook show``: a runbook, its recent runs and the command that runs it."""

    runbook: Runbook
    runs: list[RunRecord]
    command: str
    warnings: list[str] = field(default_factory=list)


def show(project: Project, name: str, *, runs: int = 10) -> Shown:
    """A runbook by name, with its ``runs`` newest runs (and the runs the store skipped).

    The command runs it again as its latest run did, or as it comes when it never ran.
    """
    runbook = project.load(name)
    store = open_store(project)
    recent = store.records(runbook.slug)[:runs]
    latest = recent[0] if recent else None
    values = latest.parameters if latest else None
    command = shortest_command(project, runbook, values, latest.environment if latest else None)
    return Shown(runbook, recent, command, store.problems)


def shortest_command(
    project: Project, runbook: Runbook, values: dict[str, Any] | None, environment: str | None
) -> str:
    """The shortest ``runbook exec`` command giving ``runbook`` these ``values`` in ``environment``
    (default: the project's default profile): only what the runbook and the profile would
    not give anyway. A profile that cannot be read makes every value explicit.
    """
    return commands(project).command(runbook, values, environment)


def commands(project: Project) -> Commands:
    """What writes the shortest command of a run (:class:`runbook.render.text.Commands`):
    the project's profiles, those that can be read."""
    from runbook.render.text import Commands
    from runbook.run import environments

    # a profile that cannot be read is left out: its runs' commands write every value
    profiles = environments.readable(project.environments_dir)
    return Commands(profiles, project.settings.default_environment, known=True)


@dataclass
class History:
    """``runbook runs``: runs newest first, and the runs the store skipped (one line each)."""

    records: list[RunRecord]
    warnings: list[str] = field(default_factory=list)


def history(project: Project, name: str | None, limit: int) -> History:
    """The newest ``limit`` runs of ``name`` (a slug or path), or of every runbook."""
    slug = project.resolve(name)[0] if name else None
    store = open_store(project)
    return History(store.records(slug)[:limit], store.problems)


def plan_one(project: Project, name: str, options: ExecOptions) -> Plan:
    """What a run of ``name`` would do (``--dry-run``): nothing runs, nothing is written."""
    from runbook.run import execute

    return execute.plan(project, project.load(name, write_cache=False), options, confirm=False)


def run_one(
    project: Project | Path | None,
    name: str,
    options: ExecOptions,
    observer_factory: Callable[[], Any],
) -> RunRecord:
    """Run the runbook ``name`` and store the run: ``runbook exec NAME``.

    ``project`` may also be given as its config file (or None: found upward): then the
    default kernel starts booting before the config is read, which is the slowest part
    of reading a project, and is kept if the runbook names that kernel.
    """
    from runbook.run import execute

    kernel = None
    if not isinstance(project, Project):
        kernel = _early_kernel(project)
        try:
            project = Project.discover(config_file=project)
        except BaseException:
            if kernel is not None:
                kernel.stop(grace_s=0)
            raise
    record = execute.exec_runbook(project, name, options, observer_factory, kernel)
    _after_run(project, record)
    return record


def _after_run(project: Project, record: RunRecord) -> None:
    """What follows a stored run, never changing its result: the profile's metrics push
    (a push that fails is one warning line). The metrics module is loaded only for a
    profile that pushes: every other run pays nothing for it."""
    from runbook.run import environments

    if record.environment is None:
        return
    try:
        pushes = environments.load(project.environments_dir, record.environment).pushgateway() is not None
    except RunbookError:
        pushes = True  # let the push report what is wrong with the profile
    if pushes:
        from runbook.metrics import push_after_run

        push_after_run(project, record)


def _early_kernel(config_file: Path | None) -> Any:
    """The default kernel, started in the folder of the project's config file; None when
    there is no config file to find (the project's own error says so)."""
    from runbook.run.kernel import KernelProcess
    from runbook.source.config import find_config
    from runbook.source.parse import DEFAULT_KERNEL

    try:
        config = config_file if config_file is not None and config_file.is_file() else find_config()
    except RunbookError:
        return None
    return KernelProcess.start(DEFAULT_KERNEL, config.resolve().parent)


@dataclass
class Batch:
    """What a due loop did: the runs, what it skipped and why, what it could not run."""

    due: list[str] = field(default_factory=list)
    records: list[RunRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, RunbookError]] = field(default_factory=list)
    kept: list[RunRecord] = field(default_factory=list)
    """Runs the shared store could not take, kept in the outbox (also in ``records``)."""
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        """The worst outcome among the runbooks it tried (skipped ones do not count); a run
        that succeeded but waits in the outbox counts as :data:`EXIT_KEPT_LOCALLY`."""
        kept = {r.run_id for r in self.kept}
        codes = [r.exit_code or (EXIT_KEPT_LOCALLY if r.run_id in kept else 0) for r in self.records]
        return worst(codes + [e.exit_code for _, e in self.errors])

    @property
    def failed(self) -> list[str]:
        """Runbooks that ran and did not succeed, or could not be run."""
        return [r.slug for r in self.records if r.status != "succeeded"] + [s for s, _ in self.errors]

    def summary(self) -> str:
        """One line: ``4 due: 1 succeeded, 1 failed, 1 verified nothing (a), 1 skipped (b)``.

        A run whose steps all skipped counts as "verified nothing"; "skipped" are the
        runbooks the batch did not run.
        """
        from runbook.record.standing import SKIPPED, run_state

        counts: dict[str, int] = {}
        verified_nothing: list[str] = []
        for record in self.records:
            if run_state(record) == SKIPPED:
                verified_nothing.append(record.slug)
            else:
                counts[record.status] = counts.get(record.status, 0) + 1
        parts = [f"{n} {status.replace('_', ' ')}" for status, n in counts.items()]
        if verified_nothing:
            parts.append(f"{len(verified_nothing)} verified nothing ({', '.join(verified_nothing)})")
        if self.errors:
            parts.append(f"{len(self.errors)} not run (errors)")
        if self.kept:
            parts.append(f"{len(self.kept)} kept in the outbox (runbook runs push)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({', '.join(slug for slug, _ in self.skipped)})")
        if self.stopped:
            parts.append("stopped before the rest")
        return f"{len(self.due)} due: {', '.join(parts) or 'nothing to do'}"


def run_due(
    project: Project,
    options: ExecOptions,
    observer_factory: Callable[[], Any],
    *,
    report: Callable[[str], None] = log.warning,
    dry_run: Callable[[Plan], None] | None = None,
    jobs: int = 1,
    observer_for: Callable[[str], Callable[[], Any]] | None = None,
) -> Batch:
    """Run every runbook that is due: ``exec --due``, ``build --execute``.

    A runbook that needs a confirmation (its risk, its write steps) is skipped unless
    ``options.assume_yes`` or ``options.confirm`` can give one; one whose front matter
    does not allow the batch's environment is skipped too. Each skip and each error is
    passed to ``report`` as one line. Ctrl-C and SIGTERM stop the batch. With
    ``dry_run``, each due runbook's plan is passed to it and nothing runs.

    With ``jobs`` above 1, up to that many run at once, each in its own kernel (see
    :func:`_run_parallel`); ``observer_for(slug)`` then gives each run's observer factory.

    Raises:
        EnvironmentProfileError: the batch's profile is missing or malformed (nothing ran).
    """
    from runbook.run import environments, execute

    batch = Batch()
    environment = options.environment or project.settings.default_environment
    if environment is not None:  # a profile that is not there is one error, before any run
        environments.load(project.environments_dir, environment)
    current = standings(project)
    for warning in current.warnings:
        report(f"Warning: {warning}")
    due = [item.runbook for item in current.items if item.due]
    batch.due = [runbook.slug for runbook in due]
    report(f"{len(due)} due: {', '.join(batch.due) or 'nothing'}")
    if dry_run is None:
        _notify_stale(project, environment, current)
    if jobs > 1 and dry_run is None:
        runnable = [rb for rb in due if not _skipped(batch, rb, options, environment, report)]
        _run_parallel(
            project, runnable, options, observer_for or (lambda slug: observer_factory), jobs, batch, report
        )
        return batch
    for runbook in due:
        skip = _skip_reason(runbook, options, environment)
        if skip is not None:
            batch.skipped.append((runbook.slug, skip))
            report(skip)
            continue
        try:
            if dry_run is not None:
                dry_run(execute.plan(project, runbook, options, confirm=False))
                continue
            record = execute.exec_runbook(project, runbook.slug, options, observer_factory)
        except GateRefused:  # declined at the prompt (the environment was checked above)
            batch.skipped.append((runbook.slug, SKIP_DECLINED.format(slug=runbook.slug)))
            report(SKIP_DECLINED.format(slug=runbook.slug))
            continue
        except KeptLocally as kept:  # it ran: the shared store just could not take it
            report(f"Warning: {kept}")
            batch.kept.append(kept.record)
            record = kept.record
        except RunbookError as exc:
            batch.errors.append((runbook.slug, exc))
            report(f"Error: {runbook.slug}: not run: {exc}")
            if exc.exit_code in STOPS:
                batch.stopped = True
                break
            continue
        batch.records.append(record)
        _after_run(project, record)
        if record.exit_code in STOPS:
            batch.stopped = True
            break
    return batch


def _skipped(
    batch: Batch,
    runbook: Runbook,
    options: ExecOptions,
    environment: str | None,
    report: Callable[[str], None],
) -> bool:
    """Whether the batch skips ``runbook`` (noted in ``batch`` and reported)."""
    skip = _skip_reason(runbook, options, environment)
    if skip is not None:
        batch.skipped.append((runbook.slug, skip))
        report(skip)
    return skip is not None


def _run_parallel(
    project: Project,
    runbooks: list[Runbook],
    options: ExecOptions,
    observer_for: Callable[[str], Callable[[], Any]],
    jobs: int,
    batch: Batch,
    report: Callable[[str], None],
) -> None:
    """Run ``runbooks`` up to ``jobs`` at a time, into ``batch``, in the order they are due.

    Every run is planned first, here: a confirmation or a secret a terminal must give is
    asked for before any run starts, so no prompt ever appears among the runs' output.
    """
    from runbook.run import execute
    from runbook.run.pool import Outcome, run_plans

    plans = []
    for runbook in runbooks:
        try:
            plans.append(execute.plan(project, runbook, options))
        except GateRefused:
            batch.skipped.append((runbook.slug, SKIP_DECLINED.format(slug=runbook.slug)))
            report(SKIP_DECLINED.format(slug=runbook.slug))
        except RunbookError as exc:
            batch.errors.append((runbook.slug, exc))
            report(f"Error: {runbook.slug}: not run: {exc}")
    records: dict[str, RunRecord] = {}

    def done(planned: Plan, outcome: Outcome) -> None:
        slug = planned.runbook.slug
        if isinstance(outcome, KeptLocally):
            report(f"Warning: {outcome}")
            batch.kept.append(outcome.record)
            outcome = outcome.record
        if isinstance(outcome, RunbookError):
            batch.errors.append((slug, outcome))
            report(f"Error: {slug}: not run: {outcome}")
        elif outcome is not None:
            records[slug] = outcome
            _after_run(project, outcome)
        else:
            batch.stopped = True

    run_plans(project, plans, observer_for, jobs, done)
    batch.records = [records[p.runbook.slug] for p in plans if p.runbook.slug in records]
    if any(record.exit_code in STOPS for record in batch.records):
        batch.stopped = True


def _notify_stale(project: Project, environment: str | None, current: Standings) -> None:
    """Tell the profile's ``notify:`` URLs of the runbooks this batch finds stale."""
    from runbook.notify import notify_stale
    from runbook.run import environments

    if environment is None:
        return
    try:
        profile = environments.load(project.environments_dir, environment)
    except RunbookError:  # each run reports a bad profile
        return
    notify_stale(profile, current.items, project.work_dir, project.settings.site_url)


def _skip_reason(runbook: Runbook, options: ExecOptions, environment: str | None) -> str | None:
    """Why a batch must not run ``runbook``, or None."""
    from runbook.run.execute import needs_confirmation

    allowed = runbook.meta.environments
    if allowed is not None and environment not in allowed:
        return SKIP_ENVIRONMENT.format(
            slug=runbook.slug, env=environment or "no environment", allowed=", ".join(allowed)
        )
    why = needs_confirmation(runbook)
    if why and not options.assume_yes and options.confirm is None:
        return SKIP_CONFIRMATION.format(slug=runbook.slug, why=why)
    return None


NO_SHARED_STORE = (
    "nothing to push to: the run store is the folder {folder}, where runs are stored as they end; "
    "set plugins.runbook.runs to a URL (s3://bucket/prefix) or RUNBOOK_RUNS to the shared store, "
    "or pass --from FOLDER to copy a folder's runs into this one"
)
NO_FOLDER = "{folder}: no such folder of runs; pass the folder that holds <runbook>/<run_id>/record.json"
SAME_STORE = "{folder}: is the project's run store itself; {what}"
UNREACHABLE = (
    "{location}: the shared run store cannot be reached ({reason}); {done}"
    "check the network and the store's credentials, then run `runbook runs {command}` again"
)
KEPT = "the runs not yet pushed stay in {folder}; "


@dataclass
class Transfer:
    """What ``runbook runs push`` or ``runbook runs pull`` did, run by run.

    Attributes:
        source: where the runs came from (a folder or a store's location).
        target: where they went.
        copied: runs the target did not have and now has, oldest first.
        present: runs the target already had (by run id): nothing was copied for them.
        abandoned: runs whose process died before they were stored; they are not copied
            (they stay where they are, reported as abandoned).
        warnings: runs the source could not read, one line each.
    """

    source: str
    target: str
    copied: list[RunRecord] = field(default_factory=list)
    present: list[RunRecord] = field(default_factory=list)
    abandoned: list[RunRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self, verb: str) -> str:
        """One line: ``pushed 3 runs to s3://bucket/runs; 2 were there already``."""
        where = f"to {self.target}" if verb == "pushed" else f"from {self.source} into {self.target}"
        copied, present = len(self.copied), len(self.present)
        if copied:
            line = f"{verb} {_plural(copied)} {where}"
            if present:
                line += f"; {present} {_were(present)} there already"
        elif present:
            every = "the 1 run" if present == 1 else f"all {present} runs"
            line = f"{verb} nothing {where}: {every} {_were(present)} there already"
        else:
            line = f"{verb} nothing {where}: there are no runs in {self.source}"
        if self.abandoned:
            line += f"; {_plural(len(self.abandoned))} abandoned, not copied"
        return line


def _plural(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def push(
    project: Project, source: Path | None = None, *, report: Callable[[str], None] = log.info
) -> Transfer:
    """Send runs kept locally to the project's run store: ``runbook runs push``.

    Without ``source``, the runs kept in the outbox (``.runbook/outbox``) while the shared
    store could not be reached are sent, and each is removed from the outbox once the
    store has its record. With ``source``, the runs of that folder are copied and the
    folder is left as it is (a migration from a local store); the project's store may then
    be a folder too (a shared network folder, or merging two folders). A run the store
    already has (same run id) is not copied again. Each run copied is passed to ``report``.

    Raises:
        RunbookError: no source folder, or nothing to push to (the store is a local folder
            and no ``source`` was given, or ``source`` is that folder).
        StoreError: the store cannot be reached; the runs sent until then stay sent.
    """
    from runbook.store import outbox_dir
    from runbook.store.local import LocalRunStore

    target = open_store(project)
    if source is None:
        if project.runs_dir is not None:
            raise RunbookError(NO_SHARED_STORE.format(folder=_folder(project, project.runs_dir)))
        folder, from_outbox = outbox_dir(project.work_dir), True
    else:
        folder, from_outbox = _source_folder(project, source), False
    origin = LocalRunStore(folder)
    transfer = Transfer(source=_folder(project, folder), target=target.location)
    for record in _oldest_first(origin.records(), transfer):
        try:
            added = target.adopt(record, origin.notebook(record))
        except StoreError as exc:
            kept = KEPT.format(folder=transfer.source) if from_outbox else ""
            raise _unreachable(target.location, _reason(exc), transfer, "pushed", kept, "push") from None
        _count(transfer, record, added, report, "pushed")
        if from_outbox:
            _remove_pushed(folder, record)
    transfer.warnings = list(origin.problems)
    return transfer


def pull(project: Project, into: Path, *, report: Callable[[str], None] = log.info) -> Transfer:
    """Copy the run history of the project's store into the folder ``into``: ``runbook runs pull``.

    For reading offline (``RUNBOOK_RUNS=<folder> runbook serve``) or a migration. A run the
    folder already has (same run id) is neither fetched nor overwritten. Each run copied
    is passed to ``report``.

    Raises:
        RunbookError: ``into`` is the project's own run store folder.
        StoreError: the store cannot be reached, or the folder cannot be written.
    """
    from runbook.store.local import LocalRunStore

    runs_dir = project.runs_dir
    if runs_dir is not None and _same(into, runs_dir):
        what = "pull into another folder (--to DIR)"
        raise RunbookError(SAME_STORE.format(folder=_folder(project, into), what=what))
    source = open_store(project)
    local = LocalRunStore(into)
    transfer = Transfer(source=source.location, target=_folder(project, into))
    have = {record.run_id for record in local.records()}
    try:
        found = source.records()
    except StoreError as exc:
        raise _unreachable(source.location, _reason(exc), transfer, "pulled", "", "pull") from None
    for record in _oldest_first(found, transfer):
        if record.run_id in have:
            transfer.present.append(record)
            continue
        skipped = len(source.problems)
        notebook = source.notebook(record)
        if notebook is None and len(source.problems) > skipped:  # unreadable now, not absent
            why = f"reading the notebook of {record.slug} {record.run_id} failed"
            raise _unreachable(source.location, why, transfer, "pulled", "", "pull")
        _count(transfer, record, local.adopt(record, notebook), report, "pulled")
    transfer.warnings = list(source.problems) + list(local.problems)
    return transfer


def _oldest_first(records: list[RunRecord], transfer: Transfer) -> list[RunRecord]:
    """Finished runs, oldest first (an interrupted copy leaves the older history whole);
    abandoned ones are set aside in ``transfer``."""
    finished: list[RunRecord] = []
    for record in reversed(records):
        (transfer.abandoned if record.status == "abandoned" else finished).append(record)
    return finished


def _count(
    transfer: Transfer, record: RunRecord, added: bool, report: Callable[[str], None], verb: str
) -> None:
    if added:
        transfer.copied.append(record)
        report(f"{verb} {record.slug} {record.run_id} ({record.status})")
    else:
        transfer.present.append(record)


def _unreachable(
    location: str, reason: str, transfer: Transfer, verb: str, kept: str, command: str
) -> StoreError:
    done = f"{verb} {_plural(len(transfer.copied))} before that; " if transfer.copied else ""
    return StoreError(UNREACHABLE.format(location=location, reason=reason, done=done + kept, command=command))


def _reason(exc: StoreError) -> str:
    """Why a store failed: an object store's own reason, else its whole message."""
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) else str(exc)


def _remove_pushed(outbox: Path, record: RunRecord) -> None:
    """Take a pushed run out of the outbox: its record first, so it is never half listed."""
    folder = outbox / record.slug / record.run_id
    (folder / "record.json").unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()  # the runbook's last run in the outbox
    except OSError:
        pass


def _source_folder(project: Project, source: Path) -> Path:
    if not source.is_dir():
        raise RunbookError(NO_FOLDER.format(folder=source))
    runs_dir = project.runs_dir
    if runs_dir is not None and _same(source, runs_dir):
        what = "pass another folder with --from, or set RUNBOOK_RUNS to the store to push to"
        raise RunbookError(SAME_STORE.format(folder=source, what=what))
    return source


def _same(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _folder(project: Project, folder: Path) -> str:
    """A folder as the user names it: relative to the project when it is inside it."""
    absolute = folder.resolve()
    root = project.root.resolve()
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(folder)


@dataclass
class Checked:
    """``runbook check``: every finding, and what was looked at."""

    findings: list[Finding]
    scope: Scope
    alert_rule_files: int = 0

    def summary(self) -> str:
        """``checked 26 notebooks, 4 profiles and 7 FAQ files: no problems``."""
        what = self.scope.describe()
        if self.alert_rule_files:
            files = "file" if self.alert_rule_files == 1 else "files"
            what = f"{what.replace(' and ', ', ')} and the alerts of {self.alert_rule_files} rule {files}"
        count = len(self.findings)
        found = f"{count} problem{'s' if count != 1 else ''} found" if count else "no problems"
        return f"checked {what}: {found}"


def check(
    project: Project, paths: list[Path] | None = None, alert_rules: list[Path] | None = None
) -> Checked:
    """Lint the project's sources (``runbook check``); every finding, sorted by file and line.

    With ``alert_rules`` (Prometheus rule files, ``runbook check --alerts``), also every
    alert without a runbook, every ``runbook_url`` that is not a runbook page and every
    runbook naming an alert no rule defines.
    """
    from runbook.source.lint import check_alerts, check_project, scope

    findings = check_project(project, paths)
    if alert_rules is not None:
        findings = sorted(set(findings) | set(check_alerts(project, alert_rules)))
    return Checked(findings, scope(project, paths), len(alert_rules or ()))


def schedule(
    project: Project, image: str, environment: str, *, secret: str, namespace: str | None, assume_yes: bool
) -> ScheduleResult:
    """Kubernetes CronJobs for the scheduled runbooks (``runbook schedule``).

    Runbooks that cannot be parsed are left out and named in the result's ``warnings``.

    Raises:
        EnvironmentProfileError: ``environment`` is not one of the project's profiles.
    """
    from runbook import schedule as schedules
    from runbook.run import environments
    from runbook.source.config import is_url

    environments.load(project.environments_dir, environment)
    warnings: list[str] = []
    runbooks = project.runbooks(on_error=lambda exc: warnings.append(f"skipped {exc}"))
    runs = project.runs if is_url(project.runs) else None
    options = schedules.ScheduleOptions(image, environment, secret, namespace, assume_yes, runs)
    found = schedules.build(runbooks, options)
    found.warnings = warnings
    return found


def render(project: Project) -> Site:
    """Every generated page and asset of the site, and its warnings, as values."""
    from runbook.site.inputs import render_project

    return render_project(project)


def render_to(project: Project, out: Path) -> int:
    """Write the complete docs tree, rendered, to ``out``: ``runbook render --out``.

    Returns:
        The number of generated files written.
    """
    from runbook.render.site import write_site

    site = render(project)
    for warning in site.warnings:
        log.warning(warning)
    return len(write_site(site, out, project.docs_dir))


def build(project: Project, *, strict: bool, site_dir: Path | None = None, engine: str = "mkdocs") -> Path:
    """Render and build the site with ``engine`` (MkDocs by default); the folder it was built into."""
    from runbook.site.build import build_site

    return build_site(project, strict=strict, site_dir=site_dir, engine=engine)


def serve(project: Project, dev_addr: str | None, engine: str = "mkdocs") -> int:
    """Live preview: rebuilds when runbooks, runs, profiles or docs change; the exit code."""
    from runbook.site.build import serve_site

    return serve_site(project, dev_addr, engine)
