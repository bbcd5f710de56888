"""Each modem's signal over the last 24 hours, kept in memory for the status page's chart.

The store keeps only a modem's identity and the daemon's health snapshot only its last
check, so the web server samples the snapshot (and the daemon may call `record` after
each health check). The history starts with the process: after a restart the chart
fills again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
MAX_SAMPLES = 24 * 60  # one a minute


class SignalHistory:
    """(time, dBm) samples per modem name for the last `WINDOW`; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, deque[tuple[datetime, int]]] = {}

    def record(self, modem: str, dbm: int | None, at: datetime) -> None:
        """Add a sample (None: signal unknown, nothing recorded); the same time twice once."""
        if dbm is None:
            return
        with self._lock:
            samples = self._samples.setdefault(modem, deque(maxlen=MAX_SAMPLES))
            if samples and samples[-1][0] >= at:
                return
            samples.append((at, int(dbm)))

    def record_all(self, facts: Iterable[tuple[str, int | None, datetime]]) -> None:
        for modem, dbm, at in facts:
            self.record(modem, dbm, at)

    def series(self, modem: str, now: datetime) -> list[tuple[datetime, int]]:
        """The samples of `modem` within the window ending at `now`, oldest first."""
        start = now - WINDOW
        with self._lock:
            return [(t, d) for t, d in self._samples.get(modem, ()) if start <= t <= now]


HISTORY = SignalHistory()
"""The process's history: the servers sample into it, and the daemon may `record` into it."""


def record_signal(modem: str, dbm: int | None, at: datetime) -> None:
    """Record a modem's signal (dBm) seen at `at` in the process's history."""
    HISTORY.record(modem, dbm, at)
