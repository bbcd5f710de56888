"""Logging for the daemon and the demo: every line passes a masking filter (invariant 7).

Phone and account numbers are masked by `core.masking.mask_text` twice over: a filter
rewrites each record's message (whatever handler it reaches), and the formatter masks the
final line again, which also covers tracebacks and exception texts.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from appliance.core.masking import mask_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class MaskingFilter(logging.Filter):
    """Rewrites a record's message with phone and account numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad %-format must not lose the line
            message = f"{record.msg!s} {record.args!r}"
        record.msg = mask_text(message)
        record.args = None
        return True


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def masking_handler(handler: logging.Handler) -> logging.Handler:
    """Equip `handler` with the masking filter and formatter; returns it."""
    handler.addFilter(MaskingFilter())
    handler.setFormatter(MaskingFormatter(FORMAT))
    return handler


def setup_logging(level: str = "INFO", *, stream: TextIO | None = None,
                  file: Path | None = None) -> None:
    """Route the root logger to stderr (and `file`, when given) through masking handlers.

    Replaces handlers installed by an earlier call, so it is safe to call more than once.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_appliance", False):
            root.removeHandler(old)
            old.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler._appliance = True  # type: ignore[attr-defined]  # ours, to replace later
        root.addHandler(masking_handler(handler))
    root.setLevel(level.upper())
    # Libraries that chat at INFO about every poll or request.
    for noisy in ("apscheduler", "httpx", "httpcore", "werkzeug", "gsmmodem"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
