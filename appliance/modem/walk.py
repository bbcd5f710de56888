"""Which storages a listing must walk (issue 17): the one new messages go to always; any
other only when the modem said it holds something there (a `+CMTI` naming it, messages
found there last time), after an init, and at least every `full_every` seconds (a notice
can be lost: a full storage sends none) unless listed meanwhile for another reason (the
status reports it holds: `modem/reports.py`). While a run of sends is on (`sending`),
that periodic walk waits, up to `busy_every`: each costs the radio a listing and two
storage switches between two sends, and a storage that fills meanwhile holds messages
back at the network, which then stop coming and end the run (issue 17)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StorageWalk:
    """The storages to list next; thread-safe (notices arrive on the link's thread)."""

    def __init__(self, full_every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, busy_every: float = 300.0) -> None:
        self.full_every = full_every
        self.busy_every = busy_every
        self.sending = False  # a run of sends is on (set by the sender, cleared when idle)
        self._clock = clock
        self._lock = threading.Lock()
        self._storages: tuple[str, ...] = ("SM",)
        self._maybe: set[str] = set()
        self._due: dict[str, float] = {}  # when each storage is due its periodic walk
        self._recheck_at: float | None = None  # direct delivery: see `reset`

    def reset(self, storages: tuple[str, ...], recheck_after: float | None = None) -> None:
        """After an init: the next listing walks every storage. `recheck_after` (direct
        delivery): that long after, a listing is due once more, to look whether the modem
        turned routing off meanwhile (`recheck_due`)."""
        with self._lock:
            self._storages = storages
            self._maybe = set(storages)
            self._due = {}
            self._recheck_at = (None if recheck_after is None
                                else self._clock() + recheck_after)

    def recheck_due(self) -> bool:
        """Whether the look `reset` asked for is due now (True once: it is then done)."""
        with self._lock:
            if self._recheck_at is None or self._clock() < self._recheck_at:
                return False
            self._recheck_at = None
            return True

    def notice(self, storage: str) -> None:
        """A `+CMTI` (or anything else) says `storage` holds a message."""
        with self._lock:
            self._maybe.add(storage)

    def take(self, *, always_first: bool = True) -> tuple[str, ...]:
        """The storages to list now, in the modem's order; each is marked as walked
        (call `found` for one that still holds messages). `always_first` False (direct
        delivery: new messages are not stored): not even the first storage unless named
        or due."""
        with self._lock:
            walk = self._wanted(always_first)
            now = self._clock()
            for s in walk:
                self._due[s] = now + self.full_every
            self._maybe.difference_update(walk)
            return walk

    def due(self, *, always_first: bool = True) -> bool:
        """Whether `take` would name any storage now (nothing is marked)."""
        with self._lock:
            if self._recheck_at is not None and self._clock() >= self._recheck_at:
                return True
            return bool(self._wanted(always_first))

    def _wanted(self, always_first: bool) -> tuple[str, ...]:
        now = self._clock()
        late = self.busy_every - self.full_every if self.sending else 0.0
        return tuple(s for s in self._storages
                     if (always_first and s == self._storages[0]) or s in self._maybe
                     or now >= self._due.get(s, 0.0) + late)

    def walked(self, storage: str) -> None:
        """`storage` was listed whole outside `take` (its periodic walk is done)."""
        with self._lock:
            self._due[storage] = self._clock() + self.full_every

    def found(self, storage: str) -> None:
        """`storage` held messages (or could not be listed): walk it next time too."""
        self.notice(storage)
