"""What `doctor` and `status` show of the modems while the daemon holds their ports: facts
asked of each modem, kept here and written to the health snapshot beside the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from appliance.config import Settings
from appliance.modem.pool import ModemHandle, Pool
from appliance.ops.snapshot import ModemFacts, collect_facts, snapshot_path, write_snapshot
from appliance.store.db import write_transaction
from appliance.store.ops import record_modem_identity

log = logging.getLogger(__name__)


class ModemFactsKeeper:
    """The latest facts of each modem, and when the snapshot is due again."""

    def __init__(self, settings: Settings, pool: Pool, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self._facts: dict[str, ModemFacts] = {}
        self._lock = threading.Lock()
        self._previous_imsi: dict[str, str | None] = {}
        self._due = 0.0

    def snapshot_due(self, now: float) -> bool:
        return now >= self._due

    def next_snapshot(self, at: float) -> None:
        self._due = at

    def port_of(self, name: str) -> str:
        return next((str(m.port) for m in self.settings.modems if m.name == name), "?")

    def modem_left(self, handle: ModemHandle) -> None:
        """A modem went out of service: shown at once, without asking it."""
        with self._lock:
            old = self._facts.get(handle.name)
            self._facts[handle.name] = (
                replace(old, healthy=False, last_error=handle.last_error,
                        checked_at=self.clock()) if old is not None
                else ModemFacts(handle.name, self.port_of(handle.name), False, self.clock(),
                                last_error=handle.last_error))
        self._due = 0.0

    def refresh(self, handle: ModemHandle, *, record_identity: bool = False) -> None:
        """Ask the modem what doctor and status show (health snapshot); never raises."""
        now = self.clock()
        try:
            if record_identity:
                info = handle.call(lambda m: m.info())
                with write_transaction():
                    self._previous_imsi[handle.name] = record_modem_identity(
                        handle.name, info.imsi, info.imei, now)
            previous = self._previous_imsi.get(handle.name)
            facts = handle.call(lambda m: collect_facts(
                handle.name, self.port_of(handle.name), m, now=now, previous_imsi=previous,
                healthy=handle.healthy))
        except Exception as exc:
            log.debug("modem %s: facts not collected: %s", handle.name, exc)
            return
        if previous and facts.imsi and previous != facts.imsi:
            log.warning("modem %s: the SIM changed since it was last seen", handle.name)
        with self._lock:
            self._facts[handle.name] = facts
        self._due = 0.0

    def write_snapshot(self, started_at: datetime) -> None:
        """The health snapshot `doctor` and `status` read while the daemon holds the ports."""
        with self._lock:
            facts = [self._facts.get(h.name) or ModemFacts(
                h.name, self.port_of(h.name), h.healthy, self.clock(),
                last_error=h.last_error) for h in self.pool]
        try:
            write_snapshot(snapshot_path(Path(self.settings.database)), facts, self.clock(),
                           started_at=started_at)
        except OSError as exc:
            log.warning("health snapshot not written: %s", exc)
