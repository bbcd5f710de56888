"""Which storages a listing must walk (issue 17): the one new messages go to always; any
other only when the modem said it holds something there (a `+CMTI` naming it, messages
found there last time), after an init, and at least every `full_every` seconds (a notice
can be lost: a full storage sends none)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StorageWalk:
    """The storages to list next; thread-safe (notices arrive on the link's thread)."""

    def __init__(self, full_every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.full_every = full_every
        self._clock = clock
        self._lock = threading.Lock()
        self._storages: tuple[str, ...] = ("SM",)
        self._maybe: set[str] = set()
        self._full_due = 0.0

    def reset(self, storages: tuple[str, ...]) -> None:
        """After an init: the next listing walks every storage."""
        with self._lock:
            self._storages = storages
            self._maybe = set(storages)
            self._full_due = 0.0

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
            now = self._clock()
            if now >= self._full_due:
                self._maybe = set(self._storages)
                self._full_due = now + self.full_every
            walk = tuple(s for s in self._storages
                         if (always_first and s == self._storages[0]) or s in self._maybe)
            self._maybe.difference_update(walk)
            return walk

    def found(self, storage: str) -> None:
        """`storage` held messages (or could not be listed): walk it next time too."""
        self.notice(storage)
