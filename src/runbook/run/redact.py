"""Masking of known secret values, applied before anything is echoed or written."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from runbook.record.model import SECRET_MASK
from runbook.source.model import to_plain

#: Values shorter than this are not masked: masking "1" or "on" would shred the output.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces every known secret value with ``••••••`` and counts the replacements."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None
        self.count = 0

    def text(self, text: str) -> str:
        if self._pattern is None or not isinstance(text, str):
            return text
        masked, found = self._pattern.subn(SECRET_MASK, text)
        self.count += found
        return masked

    def value(self, value: Any) -> Any:
        """``value`` with every string inside it masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def output(self, output: Any) -> Any:
        """A masked copy of one notebook output (for the terminal)."""
        if self._pattern is None:
            return output
        before = self.count
        masked = self.value(copy.deepcopy(dict(output)))
        self.count = before  # the notebook pass counts each replacement once
        return masked

    def notebook(self, nb: Any) -> dict[str, Any] | None:
        """A masked, JSON-ready copy of an executed notebook."""
        if nb is None:
            return None
        return self.value(to_plain(nb))  # type: ignore[no-any-return,unused-ignore]
