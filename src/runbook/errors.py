"""One error hierarchy for the whole library.

Library code raises these; the command line turns them into one line and an exit code
(see :data:`EXIT_CODES` in DESIGN.md), the MkDocs plugin into ``PluginError``. A message
says where (file, key, parameter) and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
#: The run store could not be read or written (sysexits' EX_IOERR); nothing half-written is left.
EXIT_STORE = 74
#: The run succeeded but the shared store could not be reached: it is kept locally until
#: ``runbook runs push`` sends it (sysexits' EX_TEMPFAIL: try again later).
EXIT_KEPT_LOCALLY = 75
EXIT_TIMED_OUT = 124
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, and where: filled in by whoever found it."""

    path: str
    """The file as the user names it (relative to the project), or the option (``-f x.yml``)."""
    message: str
    """One line without the path: what is wrong and what to do."""
    line: int = 0
    """1-based line in the file; 0 when the problem is about the whole file."""
    key: str | None = None
    """The key or parameter the problem is about, when there is one."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


_Error = TypeVar("_Error", bound="RunbookError")


class RunbookError(Exception):
    """Base class: bad usage or input. Exit code 2 unless a subclass says otherwise."""

    exit_code = EXIT_USAGE
    problems: tuple[Problem, ...] = ()
    """The located problems behind the error; empty when it was raised with a message only."""

    @classmethod
    def located(cls: type[_Error], problems: Iterable[Problem]) -> _Error:
        """The error for problems in one file, worded ``path: first; second``.

        Raises:
            ValueError: no problems, or problems in different files.
        """
        found = tuple(problems)
        if not found or len({p.path for p in found}) != 1:
            raise ValueError("located() takes one or more problems in one file")
        error = cls(f"{found[0].path}: " + "; ".join(p.message for p in found))
        error.problems = found
        return error


class ProjectError(RunbookError):
    """No project here, or a name that does not resolve to a runbook."""


class FrontMatterError(RunbookError):
    """A runbook's front matter is missing, malformed or invalid."""


class NotebookError(RunbookError):
    """A runbook's body cannot be read as a notebook (cells, steps, parameters cell)."""


class ParameterError(RunbookError):
    """A parameter value or key is unknown, malformed or of the wrong type."""


class EnvironmentProfileError(RunbookError):
    """An environment profile is missing, malformed or references an unset variable."""


class GateRefused(RunbookError):
    """A safety gate refused the run: risk without confirmation, environment not allowed."""

    exit_code = EXIT_REFUSED


class KernelError(RunbookError):
    """The kernel could not be found or started."""

    exit_code = EXIT_FAILED


class InputTooLarge(RunbookError):
    """A file, or a YAML document once its aliases are expanded, is past what the tool reads."""


class StoreError(RunbookError):
    """The run store cannot be read or written."""

    exit_code = EXIT_STORE


class KeptLocally(StoreError):
    """A run ended, the shared store could not take it, and it is kept in the local outbox.

    Raised once the run is safe. The exit code is :data:`EXIT_KEPT_LOCALLY` when the run
    succeeded, else the run's own: the outcome of the run comes first.

    Attributes:
        location: where the run is kept (its folder in the outbox).
        record: the run's record (a :class:`~runbook.record.model.RunRecord`).
    """

    exit_code = EXIT_KEPT_LOCALLY

    def __init__(self, message: str, *, location: str, record: Any) -> None:
        super().__init__(message)
        self.location = location
        self.record = record
        if getattr(record, "exit_code", 0):
            self.exit_code = int(record.exit_code)
