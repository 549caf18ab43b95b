"""The papermill engine ``runbook``: papermill's nbclient engine with hooks for live output.

It runs on a kernel that :mod:`runbook.run.kernel` already started, streams every output to an
observer as it arrives, reports each step as it starts, and applies per-step and whole-run
time limits through nbclient's ``timeout_func``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Protocol

#: What papermill's notebook I/O (``papermill.iorw``) imports, if installed, to read and
#: write notebooks on S3, Azure, GCS, HDFS and GitHub. Runbook hands papermill notebooks
#: in memory and never uses those handlers; on a machine with boto3 (any AWS tooling, or
#: the test extra's moto) they added 0.17 s to papermill's import, on the CPU a run shares
#: with its booting kernel.
PAPERMILL_CLOUD_IO = ("boto3", "azure", "gcsfs", "pyarrow", "github")


class _WithoutCloudIO(MetaPathFinder):
    """While papermill is first imported: its cloud I/O modules are not found."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in PAPERMILL_CLOUD_IO:
            raise ModuleNotFoundError(f"not loaded for papermill: {fullname}", name=fullname)
        return None


def _import_papermill() -> None:
    if "papermill.iorw" in sys.modules:
        return
    finder = _WithoutCloudIO()
    sys.meta_path.insert(0, finder)
    try:
        import papermill.iorw  # noqa: F401
    finally:
        sys.meta_path.remove(finder)


_import_papermill()

from papermill.clientwrap import PapermillNotebookClient  # noqa: E402
from papermill.engines import NBClientEngine, papermill_engines  # noqa: E402
from traitlets import Any as AnyTrait  # noqa: E402

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
