"""Faults a tester arms: wrong answers, a lost network, a full SIM."""

from __future__ import annotations

from datetime import datetime

from appliance.fakemodem.arrivals import Arrivals
from appliance.fakemodem.model import Fault, Output
from appliance.fakemodem.state import STORAGES

FAULT_KINDS = ("no-answer", "error", "cms-error", "cme-error", "late", "non-utf8",
               "garbage", "registration-lost", "registration-restored", "sim-full",
               "cmti-inside-answer", "cmti-burst", "signal")


class Faults(Arrivals):
    """Arming and clearing faults."""

    def fault(self, kind: str, now: datetime, *, count: int = 1, match: str | None = None,
              code: int | None = None, delay: float = 0.0, storage: str = "SM",
              value: int | None = None) -> Output:
        """Arm a fault (see docs/fake-modem.md); instant ones act at once."""
        kind = kind.replace("_", "-").lower()
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        out = Output()
        if kind == "garbage":
            noise = bytes(self._rng.randrange(256) for _ in range(max(count, 1)))
            out.write(noise.replace(b"\r", b"\x8d").replace(b"\n", b"\x8a"))
            return out
        if kind in ("registration-lost", "registration-restored"):
            self.registered = kind == "registration-restored"
            if self.settings.creg:
                self._notify(f"\r\n{self._creg_line('+CREG', self.settings.creg, True)}\r\n"
                             .encode(), out)
            if self.settings.cgreg:
                self._notify(f"\r\n{self._cgreg_line(self.settings.cgreg, True)}\r\n"
                             .encode(), out)
            out.extend(self.retry_pending(now))
            return out
        if kind == "sim-full":
            where = storage.upper()
            if where not in STORAGES:
                raise ValueError(f"storage must be SM or ME, got {storage!r}")
            self.full_storages.add(where)
            return out
        if kind == "signal":
            self.signal = 99 if value is None else value
            return out
        if kind == "cms-error" and code is None:
            code = 500
        if kind == "cme-error" and code is None:
            code = 100
        self.faults.append(Fault(kind, count=count, match=match, code=code, delay=delay))
        return out

    def reset_faults(self, now: datetime) -> Output:
        """Clear every fault; the network and storages work again."""
        self.faults.clear()
        self.full_storages.clear()
        self.signal = self.config.signal
        out = Output()
        released = self._inject + self._burst
        self._inject, self._burst = [], []
        for notice in released:
            out.write(notice)
        if not self.registered:
            out.extend(self.fault("registration-restored", now))
        else:
            out.extend(self.retry_pending(now))
        return out
