"""The daemon's modems: each with its health, and the routing of replies between them.

`ModemHandle` is the one place the daemon's flows meet `modem.wrapper.Modem`: the inbox,
the outbox and health talk to handles, so the wrapper's exact API is adapted here only.
A handle is healthy while its modem answers; a `ModemTimeout` or `ModemGone` in any flow
marks it unhealthy and `health` reopens it (with backoff, never a blind soft reset).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from appliance.core.phones import on_net, operator_of
from appliance.core.rules import Operator
from appliance.modem.direct import DIRECT
from appliance.modem.errors import ModemGone, ModemTimeout
from appliance.modem.pdu import decode_deliver
from appliance.modem.types import Deliver
from appliance.modem.wrapper import Modem

log = logging.getLogger(__name__)
T = TypeVar("T")

# The longest a send that holds the port lets a notified message be read and decided
# first (the inbox takes a few milliseconds; a stuck inbox must not stop the sends).
READ_FIRST_MAX = 1.0


@dataclass(frozen=True)
class StoredPdu:
    """A message as the modem keeps it: where, and its raw PDU (hex, SMSC included)."""

    storage: str
    index: int
    pdu: str
    received: bool = True  # False for an outgoing message stored on the SIM


class ModemHandle:
    """One configured modem: opens the wrapper, adapts its calls, keeps its health."""

    def __init__(self, name: str, operator: str | None,
                 factory: Callable[[ModemHandle], Modem],
                 on_change: Callable[[ModemHandle], None] = lambda _h: None) -> None:
        self.name = name
        self.operator = operator
        # Builds an un-opened wrapper `Modem` for this handle, its callbacks set.
        self._factory = factory
        self._modem: Modem | None = None
        self._lock = threading.RLock()  # one AT conversation at a time per port
        # Reads of the inbox go before the next send: the outbox's two lanes hand the
        # port from one send to the next, and a reader queued on the lock alone lost to
        # them for a whole salary day's run of alerts (issue 14).
        self._reading = 0  # inbox calls waiting for (or holding) the port
        self._reading_lock = threading.Lock()
        self._port_free = threading.Condition(self._lock)
        self._healthy = threading.Event()
        self.last_error: str | None = None
        self.on_change = on_change
        # A +CMTI makes the outbox step aside until the inbox has read and decided: a
        # customer's reply then overtakes queued alerts instead of waiting behind the next.
        self._inbox_cv = threading.Condition()
        self._inbox_wanted = 0  # generation of the latest notice not yet read
        self._inbox_read = 0  # generation the inbox has finished with
        # Set by the outbox worker: more messages wait behind the one being sent (the
        # modem then keeps its relay link open between them, +CMMS).
        self.backlog = False

    # -- health ---------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return self._healthy.is_set()

    def mark_unhealthy(self, reason: str) -> None:
        """Take this modem out of service until `health` reopens it."""
        if self._healthy.is_set():
            log.warning("modem %s out of service: %s", self.name, reason)
        self._healthy.clear()
        self.last_error = reason
        self.on_change(self)

    def open(self) -> None:
        """(Re)open the port and initialise the modem; raises the wrapper's errors."""
        with self._lock:
            self._close_quietly()
            modem = self._factory(self)
            modem.open()
            self._modem = modem
            self.last_error = None
            self._healthy.set()
        log.info("modem %s in service", self.name)
        self.on_change(self)

    def close(self, timeout: float = -1) -> bool:
        """Take the modem out of service and close its port; False if a command still
        held the port after `timeout` seconds (left open: the process is ending)."""
        self._healthy.clear()
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            self._close_quietly()
        finally:
            self._lock.release()
        return True

    def _close_quietly(self) -> None:
        if self._modem is not None:
            try:
                self._modem.close()
            except Exception as exc:  # closing a vanished port may fail; it is gone anyway
                log.debug("closing modem %s: %s", self.name, exc)
            self._modem = None

    def _require(self) -> Modem:
        if self._modem is None or not self._healthy.is_set():
            raise ModemGone(f"modem {self.name} is not in service")
        return self._modem

    # -- inbox before outbox -------------------------------------------------------------
    def want_inbox(self) -> None:
        """A new message is on the modem (a +CMTI): the inbox should read it first."""
        with self._inbox_cv:
            self._inbox_wanted += 1

    def inbox_generation(self) -> int:
        """Taken by the inbox before it reads; handed back to `inbox_done` after."""
        with self._inbox_cv:
            return self._inbox_wanted

    def inbox_done(self, generation: int) -> None:
        """The inbox read and decided everything notified up to `generation`."""
        with self._inbox_cv:
            self._inbox_read = max(self._inbox_read, generation)
            self._inbox_cv.notify_all()
        # A send waiting for it (`send_text`) waits with the port free: look again now.
        # Held, the port is being used, and its holder's waiter looks when it lets go.
        if self._lock.acquire(blocking=False):
            try:
                self._port_free.notify_all()
            finally:
                self._lock.release()

    def inbox_pending(self) -> bool:
        """Whether a notified message is still unread (the inbox reads this modem first)."""
        with self._inbox_cv:
            return self._inbox_read < self._inbox_wanted

    def wait_for_inbox(self, timeout: float) -> bool:
        """Wait (at most `timeout`) while a notified message is unread; True if none is."""
        with self._inbox_cv:
            return self._inbox_cv.wait_for(
                lambda: self._inbox_read >= self._inbox_wanted or not self.healthy, timeout)

    # -- the calls the flows make -----------------------------------------------------
    def list_stored(self) -> list[StoredPdu]:
        """Every message stored on the modem, from both SIM (SM) and phone (ME) storage
        (in direct delivery, those handed over first: without the port when no storage is
        due a listing)."""
        modem = self._modem
        handed = modem.take_handed() if modem is not None and self.healthy else None
        if handed is not None:
            return [StoredPdu(m.storage, m.index, m.pdu, m.received) for m in handed]
        with self._read_port():
            modem = self._require()
            return [StoredPdu(m.storage, m.index, m.pdu, m.received) for m in modem.list_stored()]

    def decode(self, pdu: str) -> Deliver:
        """Decode a stored SMS-DELIVER (raises the pdu module's error when it cannot)."""
        return decode_deliver(pdu)

    def delete_stored(self, storage: str, index: int) -> None:
        if storage == DIRECT:
            # An acknowledgement never waits for this port's lock (a send may hold it
            # for seconds): the modem sends it as soon as the port is free.
            modem = self._modem
            if modem is None or not self._healthy.is_set():
                raise ModemGone(f"modem {self.name} is not in service")
            modem.delete(storage, index)
            return
        with self._read_port():
            self._require().delete(storage, index)

    def delete_committed(self, slots: Iterable[tuple[str, int]]) -> None:
        """Delete a listing's messages after their commit, together where the modem can
        (`Modem.delete_committed`); those handed over by +CMT are acknowledged."""
        slots = list(slots)
        for storage, index in slots:
            if storage == DIRECT:
                self.delete_stored(storage, index)
        stored = [slot for slot in slots if slot[0] != DIRECT]
        if stored:
            with self._read_port():
                self._require().delete_committed(stored)

    @contextmanager
    def _read_port(self) -> Iterator[None]:
        """The port for the inbox, ahead of any send waiting for it."""
        with self._reading_lock:
            self._reading += 1
        try:
            with self._lock:
                yield
        finally:
            with self._lock:
                with self._reading_lock:
                    self._reading -= 1
                self._port_free.notify_all()

    def send_text(self, to: str, text: str,
                  progress: Callable[[str], None] | None = None,
                  on_locked: Callable[[], None] | None = None,
                  read_first: bool = False) -> list[int]:
        """Send `text` (encoded, split as needed); the modem's references, one per part.
        `progress` hears how far each part got (`Modem.send`); `on_locked` is called
        once this send holds the port (before anything is written). `read_first`: a
        message notified and not yet read and decided goes first (at most
        `READ_FIRST_MAX`): its +CMTI comes with the answer to the send before, when this
        send was already waiting for the port, and would win the port from the inbox."""
        with self._lock:
            until = time.monotonic() + READ_FIRST_MAX
            while True:  # the inbox first (the port is released while this waits)
                if self._reading:
                    self._port_free.wait(1.0)
                elif not read_first or time.monotonic() >= until:
                    break
                elif self.inbox_pending():  # woken by `inbox_done`
                    self._port_free.wait(0.05)
                elif self._message_pending():  # on the modem's dispatcher thread: soon
                    self._port_free.wait(0.001)
                else:
                    break
            if on_locked is not None:
                on_locked()
            modem = self._require()
            return list(modem.send(to, text, request_report=True, progress=progress,
                                   more=self.backlog).refs)

    def _message_pending(self) -> bool:
        # a +CMTI that came with the answer this send waited for, still on its way to
        # `want_inbox`
        modem = self._modem
        return modem is not None and modem.messages_pending

    def call(self, fn: Callable[[Modem], T]) -> T:
        """Run `fn(modem)` with the wrapper `Modem` under this handle's port lock."""
        with self._lock:
            return fn(self._require())

    def answered_at(self) -> float:
        """When (monotonic) its modem last answered a command (0: not open)."""
        modem = self._modem
        return modem.answered_at if modem is not None else 0.0

    def ping(self) -> None:
        """A cheap liveness check (raises the wrapper's errors when it does not answer)."""
        with self._lock:
            if not self._require().ping():
                raise ModemTimeout(f"modem {self.name} does not answer AT")


class Pool:
    """The configured modems, and which of them a reply should leave through."""

    def __init__(self, handles: Iterable[ModemHandle], plan: tuple[tuple[str, Operator], ...]):
        self.handles: dict[str, ModemHandle] = {h.name: h for h in handles}
        self._plan = plan

    def __iter__(self) -> Iterator[ModemHandle]:
        return iter(self.handles.values())

    def __len__(self) -> int:
        return len(self.handles)

    def healthy(self) -> list[ModemHandle]:
        return [h for h in self.handles.values() if h.healthy]

    def route(self, phone: str) -> str | None:
        """The modem a message to `phone` should prefer: its operator's own, or None (any).

        Only meaningful with more than one modem; a single modem takes everything.
        """
        if len(self.handles) < 2:
            return None
        op = operator_of(phone, self._plan)
        for handle in self.handles.values():
            if on_net(handle.operator, op):
                return handle.name
        return None

    def excluded_for(self, name: str) -> set[str]:
        """The `preferred_modem` values the worker of modem `name` must leave alone.

        Rows preferring another modem that is in service wait for it, unless that modem's
        operator is this one's too: the preference is for the operator's network (on-net),
        and several modems of one operator share its queue (with one, the others stood
        idle behind it). Rows preferring itself, no modem, a modem out of service or one no
        longer configured are its to take (a modem's queue goes on through the others
        while it is down).
        """
        own = self.handles[name].operator if name in self.handles else None
        return {n for n, h in self.handles.items()
                if n != name and h.healthy and (own is None or h.operator != own)}
