"""A step that finds nothing to check says so: :func:`skip`.

A runbook step that has no target in a profile (no database configured, no backup found
yet) calls ``checks.skip("no pg_dsn in this profile: nothing to read the queue from")``.
The reason is shown as the step's output (``SKIPPED: ...``) and the output carries a
marker in its metadata, so the run record marks the step ``skipped`` with the reason, and
a run whose every step skipped is shown as "skipped — verified nothing", not as a success.

The marker is read back from an executed notebook by :func:`skip_reason`. Outputs come
from a run and are not trusted: only the marker's presence counts, and the reason is kept
as one line of plain text (control characters and ANSI codes removed, at most
:data:`MAX_REASON` characters).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

#: The key of the marker in a display output's metadata: ``{"runbook.skip": {"reason": ...}}``.
SKIP_KEY = "runbook.skip"
#: The longest reason kept; a longer one is cut and ends in an ellipsis.
MAX_REASON = 300
#: How the reason reads in the step's output.
SKIP_TEXT = "SKIPPED: {reason}"

_UNPRINTABLE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x1f\x7f-\x9f]")


def plain_reason(reason: Any) -> str:
    """``reason`` as one line of plain text of at most :data:`MAX_REASON` characters."""
    text = " ".join(_UNPRINTABLE.sub(" ", str(reason)).split())
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 1].rstrip() + "…"
    return text or "no reason given"


def skip(reason: str) -> None:
    """Say that this step checked nothing, and why; the run record marks the step skipped.

    The step goes on running (a later line may still check something, and then the step
    counts as checked); a run whose every step skipped verified nothing, and its page,
    ``runbook list`` and the metrics say so.

    Args:
        reason: what was missing, in one line: ``"no backup found in .runbook/work/pg-backups
            yet: run postgres-backup-restore first"``.

    Example::

        if not pg_dsn:
            checks.skip("no pg_dsn in this profile: no PostgreSQL to check")
    """
    text = plain_reason(reason)
    shown = SKIP_TEXT.format(reason=text)
    if "IPython" in sys.modules:  # always the case in a kernel
        from IPython.display import display

        display({"text/plain": shown}, raw=True, metadata={SKIP_KEY: {"reason": text}})
    else:
        print(shown)


def skip_reason(outputs: Iterable[Mapping[str, Any]]) -> str | None:
    """The reason of the first :func:`skip` among a step's ``outputs``; None when it never skipped."""
    for output in outputs:
        if output.get("output_type") not in ("display_data", "execute_result"):
            continue
        metadata = output.get("metadata")
        marker = metadata.get(SKIP_KEY) if isinstance(metadata, Mapping) else None
        if isinstance(marker, Mapping):
            reason = marker.get("reason")
            return plain_reason(reason if isinstance(reason, str) else "")
    return None
