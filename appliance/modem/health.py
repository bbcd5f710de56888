"""Modem health: take a silent modem out of service and bring it back by reopening.

A modem that stops answering (`ModemTimeout`, `ModemGone`, or a liveness check failing)
is marked unhealthy by whoever noticed; this thread reopens it with exponential backoff
(1 s, 2 s, 4 s … capped). It never sends a blind soft reset (`AT+CFUN=1,1` and the like
can switch a USB stick into storage mode for good). Healthy modems get a cheap liveness
check every `check_interval` seconds, so a stick that hangs while idle is noticed too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.modem.errors import ModemError
from appliance.modem.loop import LoopThread
from appliance.modem.pool import ModemHandle, Pool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthPolicy:
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    check_interval: float = 30.0
    # A modem that answered a command within `check_interval` is alive: no ping; its
    # facts (signal, registration, ...) are asked at most this often while it is busy
    # (every check_interval otherwise): each asking is a dozen commands of radio time.
    busy_facts_interval: float = 300.0
    # ... and up to this long (since last asked, or the first look) while a run of sends
    # is on: between two sends they are radio time lost (issue 17)
    sending_facts_interval: float = 900.0
    tick: float = 0.2  # how often the thread looks (cheap: no I/O unless something is due)


class Health(LoopThread):
    """Reopens unhealthy modems and checks healthy ones, on one thread."""

    def __init__(self, pool: Pool, policy: HealthPolicy, stop: threading.Event,
                 on_recovered: Callable[[ModemHandle], None],
                 on_checked: Callable[[ModemHandle], None] = lambda _h: None) -> None:
        super().__init__("modem-health")
        self.pool = pool
        self._on_checked = on_checked
        self.policy = policy
        self._stop = stop
        self._on_recovered = on_recovered
        self._next_try: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self._next_check: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._facts_due: dict[str, float] = {}
        self._facts_asked: dict[str, float] = {}
        self.heartbeat = time.monotonic()

    def open_all(self) -> None:
        """First opening at start-up: a modem that fails is left to the reopen loop."""
        for handle in self.pool:
            self.try_open(handle)

    def try_open(self, handle: ModemHandle) -> bool:
        """One attempt to (re)open `handle`; schedules the next one on failure."""
        now = time.monotonic()
        try:
            handle.open()
        except (ModemError, OSError) as exc:
            failures = self._failures.get(handle.name, 0) + 1
            self._failures[handle.name] = failures
            delay = self._delay.get(handle.name, self.policy.backoff_initial)
            self._next_try[handle.name] = now + delay
            self._delay[handle.name] = min(delay * 2, self.policy.backoff_max)
            handle.last_error = str(exc)
            level = logging.WARNING if failures in (1, 2, 4, 8) or failures % 16 == 0 \
                else logging.DEBUG
            log.log(level, "modem %s: reopen attempt %d failed (%s); next in %.0fs",
                    handle.name, failures, exc, delay)
            return False
        if self._failures.pop(handle.name, 0):
            log.info("modem %s recovered", handle.name)
        self._delay.pop(handle.name, None)
        self._next_try.pop(handle.name, None)
        self._next_check[handle.name] = now + self.policy.check_interval
        self._on_recovered(handle)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                self.tick()
            except Exception:
                log.exception("modem health: unexpected error")
            self._wake.wait(self.policy.tick)
            self._wake.clear()

    def tick(self) -> None:
        """One look at every modem: reopen what is due, check what is due."""
        now = time.monotonic()
        for handle in self.pool:
            if self._stop.is_set():
                return
            if not handle.healthy:
                if now >= self._next_try.get(handle.name, 0.0):
                    self.try_open(handle)
            elif now >= self._next_check.get(handle.name, now + self.policy.check_interval):
                self._next_check[handle.name] = now + self.policy.check_interval
                busy = now - handle.answered_at() < self.policy.check_interval
                if busy and now < self._facts_due.get(handle.name, 0.0):
                    continue  # its own commands show it alive (a burst of sends)
                since = self._facts_asked.setdefault(handle.name, now)  # or first looked
                if busy and handle.backlog and now < since + self.policy.sending_facts_interval:
                    continue  # sending: the facts wait for a pause (or their longest wait)
                self._facts_asked[handle.name] = now
                self._facts_due[handle.name] = now + self.policy.busy_facts_interval
                try:
                    handle.ping()
                except ModemError as exc:
                    handle.mark_unhealthy(f"liveness check failed: {exc}")
                    self._next_try[handle.name] = time.monotonic() + self.policy.backoff_initial
                else:
                    self._on_checked(handle)
            elif handle.name not in self._next_check:
                self._next_check[handle.name] = now + self.policy.check_interval
