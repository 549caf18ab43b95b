"""The papermill engine ``runbook``: papermill's nbclient engine with hooks for live output.

It runs on a kernel that :mod:`runbook.run.kernel` already started, streams every output to an
observer as it arrives, reports each step as it starts, and applies per-step and whole-run
time limits through nbclient's ``timeout_func``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from traitlets import Any as AnyTrait

ENGINE_NAME = "runbook"
#: nbclient's own messages (e.g. "Timeout waiting for execute reply"); the run's outcome
#: is reported by the runbook's console, so these show only with -v.
client_log = logging.getLogger("runbook.nbclient")


class Observer(Protocol):
    """What the engine reports to while a run goes on."""

    def cell_started(self, cell: Any, cell_index: int) -> None: ...

    def output(self, output: Any, cell_index: int) -> None: ...


class RunbookNotebookClient(PapermillNotebookClient):  # type: ignore[misc,unused-ignore]
    """Papermill's client, passing each output to the observer the moment it arrives."""

    observer = AnyTrait(default_value=None, allow_none=True)

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        output = super().process_message(msg, cell, cell_index)
        if output is not None and self.observer is not None:
            self.observer.output(output, cell_index)
        return output


class RunbookEngine(NBClientEngine):  # type: ignore[misc,unused-ignore]
    """Execute on a pre-started kernel (``km``) and keep the client for a clean shutdown."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        *,
        km: Any,
        observer: Observer,
        session: Any,
        timeout_func: Any = None,
        start_timeout: float = 60,
        **_: Any,
    ) -> Any:
        client = RunbookNotebookClient(
            nb_man,
            km=km,
            kernel_name=kernel_name,
            startup_timeout=start_timeout,
            timeout_func=timeout_func,
            interrupt_on_timeout=False,
            observer=observer,
            on_cell_start=observer.cell_started,
            log_output=False,
            log=client_log,
        )
        session.client = client
        return client.execute()


papermill_engines.register(ENGINE_NAME, RunbookEngine)
