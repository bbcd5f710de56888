"""Outbound flow (DESIGN §3, invariant 5): claim → send → mark, delivery reports, recovery.

`Outbound.send_next(modem)` claims the next due row by priority (replies 0, top-up
outcomes 10, alerts 20; oldest first within one), which commits `sending` before
`AT+CMGS`; after the modem accepts it the row is `sent` with the modem's references.
Transient failures go back to the queue with exponential backoff, so one message that
keeps failing never holds up the ones behind it; permanent failures and exhausted
retries end `failed`, logged at ERROR. A modem that stops answering is taken out of
service (`health` brings it back) and its queue goes on through the other modems.
Delivery reports (+CDS) are queued as they come and matched to sent rows in batches.
The daemon runs one sending thread per modem (`daemon.workers`).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from appliance.core.phones import mask as mask_phone
from appliance.flows import tally
from appliance.flows.crash import crash_point
from appliance.flows.ports import Clock, ModemDown, ModemSender, Routing, SendFailed
from appliance.store import leases, outbox, sendsteps
from appliance.store.outbox import ClaimedOutbox

log = logging.getLogger(__name__)

REPORT_BATCH = 500  # delivery reports applied per transaction at most
# A claim in flight is renewed four times per lease (so three renewals may fail before
# it lapses); a send still in flight after RENEW_AT_MOST seconds (a hung thread, not a
# modem: its commands time out) is renewed no more, so its row goes to another box.
RENEW_AT_MOST = 900.0
# A delivered report that matched no row is kept this long (at most UNMATCHED_KEPT of
# them): the send it reports may be marked unconfirmed just after (a modem error after the
# PDU, handled on the outbox thread while the report came on the notice thread).
UNMATCHED_SECONDS = 600.0
UNMATCHED_KEPT = 256


@dataclass(frozen=True)
class OutboxPolicy:
    """Retry and recovery settings (config `[outbox]`)."""

    # From [outbox] (the config schema holds their defaults).
    max_attempts: int
    backoff: timedelta  # first retry after this, doubling
    backoff_max: timedelta
    on_sending: Literal["resend", "fail"]  # rows a crash left after their PDU was written
    # How long such a row waits for a status report before `on_sending` applies (0: at once).
    sending_grace: timedelta = timedelta(0)
    idle_poll: float = 1.0  # seconds between looks at the queue when nobody wakes us
    # Several boxes on one database (DESIGN §10): this box's name on its claims (None:
    # one box alone), and how long a claim holds before another box may take it over.
    box: str | None = None
    lease: timedelta = sendsteps.DEFAULT_LEASE
    inbox_first: float = 5.0  # at most this long the outbox waits for the inbox to read
    # A row whose claim lapsed after its PDU was written (its box dead, stuck or restarted)
    # waits at most this long for its modem to be seen again (store.leases); 0: the grace.
    hold: timedelta = timedelta(0)


def recover_interrupted(policy: OutboxPolicy, now: datetime, *,
                        others: bool = False) -> list[int]:
    """Sort the rows a crash left in `sending` by how far they got (I5); logs each.

    No PDU written yet: resent, with no risk of a duplicate. PDU written: it may have gone
    out; it waits `sending_grace` for a status report (`apply_status_reports` settles it
    as delivered), then `on_sending` applies. Returns every id it touched. With a box
    name in the policy: this box's rows and those whose lease ran out; with `others`,
    only other boxes' rows whose lease ran out (a box that died while this one runs).
    """
    recipients = outbox.sending_recipients()  # before: then they are no longer sending
    done = sendsteps.recover_sending(policy.on_sending, now, policy.sending_grace,
                                     box=policy.box, others=others, hold=policy.hold)
    # Only what may reach a recipient twice counts as a duplicate resent after a crash.
    tally.recovered(policy.on_sending, done.by_policy)

    def who(row_id: int) -> str:
        to = recipients.get(row_id)
        return mask_phone(to) if to is not None else "?"

    for row_id in done.unsent:
        log.warning("outbox %d to %s was interrupted before its PDU was written: resending "
                    "it (it cannot have gone out)", row_id, who(row_id))
    for row_id in done.waiting:
        if others and policy.hold > timedelta(0):  # its report waits on that box's SIM
            log.warning("outbox %d to %s was interrupted after its PDU was written on a box "
                        "whose claim ran out: waiting up to %ds for its modem to be back, "
                        "then %ds for a status report before policy %s", row_id, who(row_id),
                        int(policy.hold.total_seconds()),
                        int(policy.sending_grace.total_seconds()), policy.on_sending)
            continue
        log.warning("outbox %d to %s was interrupted after its PDU was written: waiting up "
                    "to %ds for a status report%s before policy %s", row_id, who(row_id),
                    int(policy.sending_grace.total_seconds()),
                    " (once its modem is open)" if policy.hold > timedelta(0) else "",
                    policy.on_sending)
    for row_id in done.by_policy:
        _log_policy(policy, row_id, who(row_id), "")
    return [*done.unsent, *done.waiting, *done.by_policy]


def _log_policy(policy: OutboxPolicy, row_id: int, who: str, why: str) -> None:
    if policy.on_sending == "resend":
        log.warning("outbox %d to %s was interrupted while sending%s: resending it "
                    "(policy resend; the recipient may get it twice)", row_id, who, why)
    else:
        log.error("outbox %d to %s was interrupted while sending%s: marked failed "
                  "(policy fail; it may or may not have gone out)", row_id, who, why)


def backoff_delay(policy: OutboxPolicy, attempts: int) -> timedelta:
    """The wait before attempt `attempts + 1`: doubling from `backoff`, capped, ±10 %."""
    base = policy.backoff.total_seconds() * (2 ** max(0, attempts - 1))
    seconds = min(base, policy.backoff_max.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


class LeaseLost(Exception):
    """The claim was taken over (its lease ran out while this box was stuck): its PDU is
    not written, the box that took it sends it."""


class _Steps:
    """A send's progress callback. At each part's `"prompt"`, before its PDU is written,
    one cheap UPDATE checks that the claim is still ours, extends its lease and records
    the step (so a crash after it is never taken for one before it); `LeaseLost` when the
    claim was taken over (the modem link then cancels the prompt)."""

    def __init__(self, row: ClaimedOutbox, lease: timedelta, clock: Clock) -> None:
        self.row = row
        self.lease = lease
        self.clock = clock
        self.written = False

    def __call__(self, step: str) -> None:
        if step == "prompt":
            if not leases.claim_pdu(self.row.id, self.row.attempts, self.clock() + self.lease):
                raise LeaseLost(f"outbox {self.row.id}: claim taken over by another box")
            self.written = True
        elif step == "written":
            crash_point("after_pdu_written")


@dataclass
class SendCounts:
    """What one modem's sending did (the status line, the bench)."""

    sent: int = 0
    failed: int = 0
    busy_seconds: float = 0.0  # time spent inside AT+CMGS (bench: send-slot usage)


class Outbound:
    """Sends the queue through the modems, and matches their delivery reports."""

    def __init__(self, policy: OutboxPolicy, clock: Clock, routing: Routing) -> None:
        self.policy = policy
        self.clock = clock
        self.routing = routing
        self._reports: queue.Queue[_Report] = queue.Queue()
        self._next_expiry = 0.0  # monotonic time of the next grace check
        self._unmatched: deque[tuple[float, _Report]] = deque(maxlen=UNMATCHED_KEPT)
        self._unmatched_lock = threading.Lock()  # the reports thread and the senders
        self._flight: dict[tuple[int, int], float] = {}  # claims in flight: since (monotonic)
        self._flight_lock = threading.Lock()
        self._next_renewal = 0.0

    # -- claim, send, mark -------------------------------------------------------------
    def send_next(self, modem: ModemSender, counts: SendCounts) -> bool:
        """Claim and send one message through `modem`; False when there was nothing to do."""
        if not modem.healthy:
            return False
        # Let the inbox read a just-notified message first (bounded: a stuck inbox must not
        # stop the outbox), so that its reply is queued before the next alert is taken.
        modem.wait_for_inbox(self.policy.inbox_first)
        now = self.clock()
        row = outbox.claim_next_outbox(self.routing.excluded_for(modem.name), now, modem.name,
                                       box=self.policy.box, lease=self.policy.lease)
        if row is None:
            return False
        claim = (row.id, row.attempts)
        with self._flight_lock:
            self._flight[claim] = time.monotonic()
        try:
            self._send(modem, row, counts)
        finally:
            with self._flight_lock:
                del self._flight[claim]
        return True

    def _send(self, modem: ModemSender, row: ClaimedOutbox, counts: SendCounts) -> None:
        crash_point("after_sending")
        started = self.clock()
        who = mask_phone(row.to)
        steps = _Steps(row, self.policy.lease, self.clock)
        try:
            refs = modem.send_text(row.to, row.text, steps)
        except LeaseLost:
            log.warning("outbox %d (%s) to %s: its claim was taken over by another box while "
                        "this one was held up (lease %ds): not sent here", row.id, row.kind,
                        who, int(self.policy.lease.total_seconds()))
            return
        except ModemDown as exc:
            tally.failed(exc)
            # The modem stopped answering: out of service. Before its PDU was written the
            # message cannot have gone out: it goes on through another modem or this one
            # later. After, it may have: like a kill after the PDU, it waits for a report.
            modem.mark_unhealthy(str(exc))
            if not (steps.written and self._await_report(modem.name, row, str(exc))):
                self._retry_or_fail(modem, row, str(exc), counts, permanent=False,
                                    soon=True)
            return
        except SendFailed as exc:
            tally.failed(exc)
            self._retry_or_fail(modem, row, str(exc), counts, permanent=exc.permanent)
            return
        finally:
            counts.busy_seconds += (self.clock() - started).total_seconds()
        crash_point("after_submit")
        if not outbox.mark_sent(row.id, refs, self.clock(), attempts=row.attempts):
            log.error("outbox %d to %s was sent via %s after another box took its claim "
                      "over: it may reach the recipient twice", row.id, who, modem.name)
        tally.sent(row, self.clock())
        counts.sent += 1
        log.info("outbox %d (%s) sent to %s via %s in %d part(s)", row.id, row.kind, who,
                 modem.name, len(refs))

    def _await_report(self, modem: str, row: ClaimedOutbox, error: str) -> bool:
        """A send broken off after its PDU was written: wait `sending_grace` for its status
        report, then the policy (as after a crash). False with no grace: retry as before."""
        grace = self.policy.sending_grace
        if grace <= timedelta(0) or not sendsteps.await_report(row.id, self.clock(), grace,
                                                                error, attempts=row.attempts):
            return False
        log.warning("outbox %d to %s: %s after its PDU was written: waiting up to %ds for a "
                    "status report before policy %s", row.id, mask_phone(row.to), error,
                    int(grace.total_seconds()), self.policy.on_sending)
        # Its report may have come already (the notice thread does not wait for us).
        with self._unmatched_lock:
            kept = [r for _, r in self._unmatched if (r.modem, r.recipient) == (modem, row.to)]
        for r in kept:
            self._reports.put(r)
        return True

    def _retry_or_fail(self, modem: ModemSender, row: ClaimedOutbox, error: str,
                       counts: SendCounts, *, permanent: bool, soon: bool = False) -> None:
        now = self.clock()
        who = mask_phone(row.to)
        attempts = int(row.attempts)
        give_up = permanent or attempts >= self.policy.max_attempts
        delay = timedelta(0) if soon else backoff_delay(self.policy, attempts)
        try:  # under the write lock; only this claim's row (not one claimed again since)
            if give_up:
                outbox.mark_failed(row.id, error, now, attempts=attempts)
            else:
                outbox.requeue(row.id, now + delay, error, attempts=attempts)
        except LookupError:
            log.warning("outbox %d to %s: attempt %d via %s failed (%s) after another box "
                        "took its claim over: left to it", row.id, who, attempts, modem.name,
                        error)
            return
        if give_up:
            counts.failed += 1
            log.error("outbox %d (%s) to %s FAILED after %d attempt(s) via %s: %s", row.id,
                      row.kind, who, attempts, modem.name, error)
            return
        tally.retried()
        log.warning("outbox %d (%s) to %s: attempt %d via %s failed (%s); retry in %ds",
                    row.id, row.kind, who, attempts, modem.name, error,
                    int(delay.total_seconds()))

    # -- delivery reports ------------------------------------------------------------------
    def on_status_report(self, modem: str, ref: int, delivered: bool, *,
                         recipient: str | None = None,
                         smsc_time: datetime | None = None,
                         ack: Callable[[], None] | None = None) -> None:
        """A +CDS report (on the modem's notice thread): queued, applied in batches.
        `recipient` and `smsc_time` let a report settle a row a crash left unconfirmed;
        `ack` (a routed report's `+CNMA`) is called once the report is applied."""
        self._reports.put(_Report(modem, ref, delivered, recipient, smsc_time, ack))

    def apply_status_reports(self, timeout: float) -> int:
        """Match queued reports to outbox rows (waits up to `timeout` for the first one).

        A burst of reports costs one transaction; returns how many were applied. A
        delivered report whose reference matches no sent row may settle a row a crash
        left unconfirmed (same modem and recipient). Unconfirmed rows whose grace ran out
        get the policy here too (checked about once a second).
        """
        self.renew_leases()
        self.expire_unconfirmed()
        try:
            items = [self._reports.get(timeout=timeout)]
        except queue.Empty:
            return 0
        while len(items) < REPORT_BATCH:
            try:
                items.append(self._reports.get_nowait())
            except queue.Empty:
                break
        crash_point("report_before_commit")
        now = self.clock()
        by_modem: dict[str, list[int]] = {}
        for r in items:
            if r.delivered:
                by_modem.setdefault(r.modem, []).append(r.ref)
            else:
                log.warning("modem %s: status report says reference %d was not delivered",
                            r.modem, r.ref)
        unknown = set(outbox.mark_delivered_reports(by_modem, now))
        for r in items:
            if not r.delivered or (r.modem, r.ref) not in unknown:
                continue
            unknown.discard((r.modem, r.ref))
            row_id = None
            if r.recipient is not None:
                row_id = sendsteps.settle_unconfirmed(r.modem, r.recipient, r.ref,
                                                      r.smsc_time, now)
            if row_id is None:
                log.info("modem %s: status report for unknown reference %s", r.modem, r.ref)
                self._keep_unmatched(r)
            else:
                log.warning("outbox %d to %s, interrupted after its PDU was written, was "
                            "delivered (status report, reference %d): not resent", row_id,
                            mask_phone(r.recipient or ""), r.ref)
        # Only now, every report committed: one acknowledged before the daemon was killed
        # or the store failed would be lost; one not acknowledged comes again.
        for r in items:
            if r.ack is not None:
                r.ack()
        return len(items)

    def _keep_unmatched(self, report: _Report) -> None:
        tick = time.monotonic()
        with self._unmatched_lock:
            while self._unmatched and self._unmatched[0][0] < tick - UNMATCHED_SECONDS:
                self._unmatched.popleft()
            if report.recipient is not None and all(r != report for _, r in self._unmatched):
                self._unmatched.append((tick, report))

    def renew_leases(self) -> int:
        """Hold this box's claims in flight for another lease (a fleet's box: four times
        per lease), so that a long send is never taken over while this box runs; returns
        how many were renewed."""
        tick = time.monotonic()
        if self.policy.box is None or tick < self._next_renewal:
            return 0
        self._next_renewal = tick + self.policy.lease.total_seconds() / 4
        with self._flight_lock:
            claims = [c for c, since in self._flight.items() if tick - since < RENEW_AT_MOST]
        return leases.renew(claims, self.clock() + self.policy.lease)

    def expire_unconfirmed(self) -> list[int]:
        """Apply the policy to unconfirmed rows past their grace (at most once a second);
        rows taken over in doubt wait for their modem first (`store.leases`)."""
        tick = time.monotonic()
        if tick < self._next_expiry:
            return []
        self._next_expiry = tick + 1.0
        if self.policy.box is not None:  # a box of a fleet died: its claims, once expired
            recover_interrupted(self.policy, self.clock(), others=True)
            leases.hold_in_doubt(self.clock(), self.policy.sending_grace, self.policy.hold)
        rows = sendsteps.expire_unconfirmed(self.policy.on_sending, self.clock())
        for row_id, to in rows:
            _log_policy(self.policy, row_id, mask_phone(to),
                        " (no status report within the grace period)")
        tally.recovered(self.policy.on_sending, [row_id for row_id, _ in rows])
        return [row_id for row_id, _ in rows]


@dataclass(frozen=True)
class _Report:
    modem: str
    ref: int
    delivered: bool
    recipient: str | None
    smsc_time: datetime | None
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)
