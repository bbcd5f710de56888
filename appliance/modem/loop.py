"""The thread plumbing the modem layer's background loops share (health, outbox workers)."""

from __future__ import annotations

import threading


class LoopThread:
    """Runs `_run` on one daemon thread; `wake()` cuts the loop's current wait short.

    Subclasses call `__init__` with the thread's name, implement `_run`, and wait on
    `self._wake` between turns (clearing it after).
    """

    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Something changed (rows queued, a modem's state): look now."""
        self._wake.set()

    def _run(self) -> None:
        raise NotImplementedError
