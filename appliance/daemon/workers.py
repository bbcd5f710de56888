"""The daemon's threads: one inbox worker, one outbox worker per modem, the top-up
submitter and the delivery-report applier. Each turns one flow and sleeps on its own
timed wait, which anything that changed their work (a `+CMTI`, a decision, a modem back)
cuts short with `wake()`."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.daemon import service
from appliance.daemon.adapters import SendingModem
from appliance.flows.outbound import Outbound, SendCounts
from appliance.modem.errors import ModemError, ModemGone, ModemTimeout
from appliance.modem.loop import LoopThread
from appliance.modem.pool import ModemHandle
from appliance.store.errors import StoreError
from appliance.store.outbox import reply_due
from appliance.store.reconnect import OUTAGE
from appliance.store.state import last_sync_at

if TYPE_CHECKING:
    from appliance.daemon.wiring import Daemon

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005  # seconds (see OutboxWorker.start)



class _Sender(SendingModem):
    """One lane's modem: it waits for the inbox only when no reply is due already, and
    claims its row in turn with the other lane (`_Turn`)."""

    def __init__(self, handle: ModemHandle, clock: Callable[[], datetime],
                 turn: threading.Lock) -> None:
        super().__init__(handle)
        self._clock = clock
        self._turn = turn
        self._holding = False
        self._reply_due = False
        self.on_locked = self.release

    def wait_for_inbox(self, timeout: float) -> bool:
        # The wait lets a customer's reply overtake queued alerts. With a reply due, the
        # next send is a reply anyway (and what the inbox decides queues behind it):
        # waiting would only leave the radio idle (issue 17).
        self._reply_due = reply_due(self._clock())
        ready = self._reply_due or super().wait_for_inbox(timeout)
        # Called just before the claim: from here until this lane holds the modem (or
        # found nothing to send), the other lane neither claims nor sends, so rows go
        # out in the order they were claimed.
        self._turn.acquire()
        self._holding = True
        return ready

    def read_first(self) -> bool:
        # A +CMTI that came with the answer to the other lane's send: its read goes before
        # this send, so that its reply is queued before the next claim, unless replies
        # are due already (then this send is one, and waiting would idle the radio).
        return not self._reply_due

    def release(self) -> None:
        """This lane holds the modem, or has nothing to send: the other lane's turn."""
        if self._holding:
            self._holding = False
            self._turn.release()


class OutboxWorker(LoopThread):
    """Sends the queue through one modem, in two lanes (threads) that take turns: while
    one lane's message is on the radio, the other has claimed the next and waits for the
    modem, and the first marks its row sent meanwhile. So the database's commits between
    two sends (sent, claim) are not radio time lost (issue 17)."""

    LANES = 2

    def __init__(self, handle: ModemHandle, outbound: Outbound, stop: threading.Event) -> None:
        super().__init__(f"outbox-{handle.name}")
        self.handle = handle
        self.outbound = outbound
        self._stop = stop
        turn = threading.Lock()
        self._lanes = [(_Sender(handle, outbound.clock, turn), SendCounts())
                       for _ in range(self.LANES)]
        # One wake per lane: with one shared event, the lane that woke first cleared it
        # while the other was still in its turn, which then slept a whole idle poll.
        self._wakes = [threading.Event() for _ in range(self.LANES)]
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        for event in self._wakes:
            event.set()

    @property
    def counts(self) -> SendCounts:
        """What this modem's sending did, both lanes together."""
        lanes = [c for _, c in self._lanes]
        return SendCounts(sum(c.sent for c in lanes), sum(c.failed for c in lanes),
                          sum(c.busy_seconds for c in lanes))

    def start(self) -> None:
        # A thread made ready by the modem's answer waits for the one running Python
        # for up to the interpreter's switch interval (5 ms by default): at one send a
        # few seconds long, a few such waits per send are a percent of radio time lost.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._threads = [threading.Thread(target=self._lane, args=(i,), daemon=True,
                                          name=f"{self._thread_name}-{i}")
                         for i in range(self.LANES)]
        for t in self._threads:
            t.start()

    def join(self, timeout: float | None = None) -> None:
        end = None if timeout is None else service.monotonic() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - service.monotonic()))

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def _lane(self, lane: int) -> None:
        sender, counts = self._lanes[lane]
        wake = self._wakes[lane]
        idle = self.outbound.policy.idle_poll
        worked = False
        while not self._stop.is_set():
            # A turn right after one that sent is a run of sends: the modem keeps its
            # relay link open between them (+CMMS).
            self.handle.backlog = worked
            wait = idle
            try:
                worked = self.outbound.send_next(sender, counts)
            except StoreError:  # the database away: the store told it once; look again
                worked, wait = False, OUTAGE.retry_in()
            except Exception:  # never let one bad turn end the worker
                log.exception("outbox worker %s: unexpected error", self.handle.name)
                worked = False
            finally:
                sender.release()
            self._collect_if_idle(worked)
            if not worked:
                wake.wait(wait)
                wake.clear()

    def _collect_if_idle(self, worked: bool) -> None:
        # Nothing to send: the modem would idle, so the status reports it holds for us
        # are read and deleted now rather than between two sends (modem/reports.py).
        if worked or not self.handle.healthy:
            return
        try:
            self.handle.call(lambda modem: modem.collect_reports())
        except ModemError as exc:
            log.debug("modem %s: status reports not collected: %s", self.handle.name, exc)


class InboxWorker(LoopThread):
    """Reads the modems and decides what is complete, on its own thread.

    It wakes on its own timed wait (the poll interval, or sooner when a multi-part
    message's wait for a missing part ends), on `notice()` (a `+CMTI`) and when woken
    (a modem back, the first sync): one mechanism, no scheduler job. A turn woken by
    notices alone reads only the notified modems and decides at once: each read waits
    for that modem's send in progress, so reading every modem first kept a customer's
    reply behind one send per modem (issue 14). Every other turn then reads the rest;
    the notified modems' outbox goes on as soon as they are decided, not after the rest.
    A modem just opened counts as notified (wiring: `_modem_recovered`).
    """

    def __init__(self, d: Daemon) -> None:
        super().__init__("inbox")
        self.d = d
        self.heartbeat = service.monotonic()
        self._synced = False
        self._said_waiting = False
        self._sweep = True  # the next turn reads every modem, not just the notified
        self._sweep_lock = threading.Lock()

    def wake(self) -> None:
        with self._sweep_lock:
            self._sweep = True
        super().wake()

    def _take_sweep(self) -> bool:
        with self._sweep_lock:
            sweep, self._sweep = self._sweep, False
        return sweep

    def notice(self) -> None:
        """A modem notified a new message (`+CMTI`): read it and decide, soon."""
        self._wake.set()

    def _run(self) -> None:
        d = self.d
        poll = float(d.settings.inbox.poll_interval)
        wait = 0.0
        while not d.stop_event.is_set():
            if not self._wake.wait(wait):
                self.wake()  # the timed look reads every modem
            self._wake.clear()
            if d.stop_event.is_set():
                return
            self.heartbeat = service.monotonic()
            try:
                wait = self.turn(poll)
            except StoreError:  # the messages stay on the modem until the store is back
                wait = OUTAGE.retry_in()
            except Exception:
                log.exception("inbox: unexpected error")
                wait = 1.0

    def turn(self, poll: float) -> float:
        """Read the notified modems and decide, then (but on a turn for notices alone) read
        the other healthy modems and decide; seconds until the next look."""
        generations = {h: h.inbox_generation() for h in self.d.pool.healthy()}
        try:
            return self._turn(poll, generations)
        finally:
            for handle, generation in generations.items():
                handle.inbox_done(generation)

    def _turn(self, poll: float, generations: dict[ModemHandle, int]) -> float:
        healthy = self.d.pool.healthy()
        first = [h for h in healthy if h.inbox_pending()]
        sweep = self._take_sweep()
        rest = [h for h in healthy if h not in first] if sweep else []
        wait = poll
        if first:
            taken = {h: generations.get(h, h.inbox_generation()) for h in first}
            self._collect(first)
            wait = self._decide(poll)
            # Their outbox may send again now, not only after the sweep's other reads
            # (each of which waits for that modem's send in progress).
            for h, generation in taken.items():
                h.inbox_done(generation)
        new = 0
        done = set(first)
        for handle in rest:
            # A notice that came meanwhile goes before the next modem of the sweep.
            notified = [h for h in healthy if h not in done and h.inbox_pending()]
            if notified or new:
                taken = {h: h.inbox_generation() for h in notified}
                self._collect(notified)
                done.update(notified)
                self._decide(poll)
                for h, generation in taken.items():
                    h.inbox_done(generation)
            if handle not in done:
                new = self._collect([handle])
                done.add(handle)
        return self._decide(poll) if rest or not first else wait

    def _collect(self, handles: list[ModemHandle]) -> int:
        new = 0
        for handle in handles:
            try:
                new += self.d.inbox.collect(handle)
            except (ModemTimeout, ModemGone) as exc:
                handle.mark_unhealthy(str(exc))
            except ModemError as exc:
                log.warning("modem %s: reading messages failed: %s", handle.name, exc)
        return new

    def _decide(self, poll: float) -> float:
        d = self.d
        if not self.ever_synced():
            # A fresh database knows no agreement yet: every customer would be refused as
            # a stranger. Messages are stored (and deleted from the modem) meanwhile, and
            # answered once the first sync is in.
            if not self._said_waiting:
                log.warning("inbox: waiting for the first bank sync before answering")
                self._said_waiting = True
            return poll
        result = d.inbox.process(bank_reachable=d.bank_reachable())
        if result.replies:
            d.wake_outbox()
        if result.orders or result.requests:
            d.wake_topups()
        wait = poll
        if result.waiting_until is not None:
            until = (result.waiting_until - d.clock()).total_seconds()
            wait = max(0.05, min(wait, until + 0.01))
        return wait

    @property
    def synced(self) -> bool:
        """Whether this worker has seen the first bank sync done (as of its last look)."""
        return self._synced

    def ever_synced(self) -> bool:
        if not self._synced:
            self._synced = last_sync_at() is not None
        return self._synced


class TopupWorker(LoopThread):
    """Submits due top-up orders, then makes the due bank requests (STOP, SQ, BLLOKO, ...),
    woken right after a decision creates one and otherwise every `bank.topup_interval`
    (the one timer for both passes: no scheduler job)."""

    def __init__(self, d: Daemon) -> None:
        super().__init__("topups")
        self.d = d

    def _run(self) -> None:
        d = self.d
        while not d.stop_event.is_set():
            self._wake.wait(float(d.settings.bank.topup_interval))
            self._wake.clear()
            if d.stop_event.is_set():
                return
            try:
                d.submit_topups()
            except StoreError:
                pass  # the database away (told once by the store): the next pass
            except Exception:
                log.exception("top-ups: unexpected error")
            try:
                d.perform_requests()
            except StoreError:
                pass
            except Exception:
                log.exception("bank requests: unexpected error")


class ReportsWorker(LoopThread):
    """Applies the modems' delivery reports in batches."""

    def __init__(self, outbound: Outbound, stop: threading.Event) -> None:
        super().__init__("status-reports")
        self.outbound = outbound
        self._stop = stop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.outbound.apply_status_reports(0.5)
            except StoreError:  # the database away (told once by the store)
                self._stop.wait(OUTAGE.retry_in())
            except Exception:
                log.exception("status reports: unexpected error")
                self._stop.wait(1.0)
