"""One error hierarchy for the whole library.

Library code raises these; the command line turns them into one line and an exit code
(see :data:`EXIT_CODES` in DESIGN.md), the MkDocs plugin into ``PluginError``. A message
says where (file, key, parameter) and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
#: The run store could not be read or written (sysexits' EX_IOERR); nothing half-written is left.
EXIT_STORE = 74
EXIT_TIMED_OUT = 124
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class RunbookError(Exception):
    """Base class: bad usage or input. Exit code 2 unless a subclass says otherwise."""

    exit_code = EXIT_USAGE


class ProjectError(RunbookError):
    """No project here, or a name that does not resolve to a runbook."""


class FrontMatterError(RunbookError):
    """A runbook's front matter is missing, malformed or invalid."""

    def __init__(self, path: str, problems: Iterable[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: " + "; ".join(self.problems))


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


class StoreError(RunbookError):
    """The run store cannot be read or written."""

    exit_code = EXIT_STORE
