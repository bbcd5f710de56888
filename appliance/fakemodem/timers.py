"""The fake modem's timer thread: actions run after a delay, in order of their time."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Scheduler:
    """Runs each scheduled action once its time has come, until `stop` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` on the timer thread `delay` seconds from now."""
        with self._cv:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), action))
            self._cv.notify()

    def wake(self) -> None:
        """Make the thread look at `stop` now."""
        with self._cv:
            self._cv.notify_all()

    def run(self) -> None:
        """The timer thread's loop."""
        while not self._stop.is_set():
            with self._cv:
                while not self._stop.is_set():
                    now = time.monotonic()
                    if self._timers and self._timers[0][0] <= now:
                        _, _, action = heapq.heappop(self._timers)
                        break
                    wait = self._timers[0][0] - now if self._timers else None
                    self._cv.wait(wait)
                else:
                    return
            action()
