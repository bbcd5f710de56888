"""The faults the fake bank can play (`set_fault`, `appliance fake-bank fault`).

`none`; `down` (503 on /v1); `error500` (500 on /v1); `slow` (answer after `delay` seconds);
`timeout_after_debit` (a top-up is debited and committed, then the connection hangs for
`delay` seconds and is closed without an answer); `refuse` (the server stops listening for
`delay` seconds, default 10: connections are refused, as when the bank link is down, then it
listens on the same port again). `count` limits a fault to the next N requests it applies to.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

FAULT_MODES = ("none", "down", "error500", "slow", "timeout_after_debit", "refuse")
_ALIASES = {"500": "error500", "ok": "none", "off": "none", "clear": "none"}
DEFAULT_DELAYS = {"slow": 2.0, "timeout_after_debit": 30.0, "refuse": 10.0}


def normalize_fault(mode: str) -> str:
    """The canonical name of a fault mode; ValueError for an unknown one."""
    canonical = _ALIASES.get(mode.strip().lower(), mode.strip().lower())
    if canonical not in FAULT_MODES:
        raise ValueError(f"unknown fault mode {mode!r}; expected one of {', '.join(FAULT_MODES)}")
    return canonical


@dataclass
class Fault:
    """One fault in force: its mode, how many more requests it takes, its delay."""

    mode: str = "none"
    count: int | None = None  # None: until cleared
    delay: float = 0.0


class FaultSwitch:
    """The fault in force, shared by the request threads (`refuse` is the server's)."""

    def __init__(self) -> None:
        self._fault = Fault()
        self._lock = threading.Lock()

    def set(self, mode: str, *, count: int | None = None, delay: float | None = None) -> None:
        """Switch a fault on (or `none` off); `mode` must be canonical and not `refuse`."""
        with self._lock:
            self._fault = Fault(
                mode, count, DEFAULT_DELAYS.get(mode, 0.0) if delay is None else delay
            )

    def now(self) -> Fault:
        """A copy of the fault in force."""
        with self._lock:
            f = self._fault
            return Fault(f.mode, f.count, f.delay)

    def take(self, endpoint: str) -> Fault | None:
        """The fault that applies to this request (consuming one of its `count`)."""
        with self._lock:
            f = self._fault
            if f.mode == "none" or endpoint.startswith("admin"):
                return None
            if f.mode == "timeout_after_debit" and endpoint != "topups":
                return None
            if f.count is not None:
                f.count -= 1
                if f.count <= 0:
                    self._fault = Fault()
            return Fault(f.mode, None, f.delay)
