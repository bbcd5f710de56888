"""Outbound flow (DESIGN §3, invariant 5): one worker thread per modem sends queued SMS.

A worker claims the next due row by priority (replies 0, top-up outcomes 10, alerts 20;
oldest first within one), which commits `sending` before `AT+CMGS`; after the modem
accepts it the row is `sent` with the modem's references. Transient failures go back to
the queue with exponential backoff, so one message that keeps failing never holds up the
ones behind it; permanent failures and exhausted retries end `failed`, logged at ERROR.
A modem that stops answering is taken out of service (`health` brings it back) and its
queue goes on through the other modems.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from appliance.core.phones import mask as mask_phone
from appliance.modem.errors import CmsError, ModemError, ModemGone, ModemTimeout, PduError
from appliance.modem.inbox import crash_point
from appliance.modem.loop import LoopThread
from appliance.modem.pool import ModemHandle, Pool
from appliance.store import hot, queries
from appliance.store.hot import ClaimedOutbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxPolicy:
    """Retry and recovery settings (config `[outbox]`)."""

    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)  # first retry after this, doubling
    backoff_max: timedelta = timedelta(minutes=30)
    on_sending: Literal["resend", "fail"] = "resend"  # rows found in `sending` at start
    idle_poll: float = 1.0  # seconds between looks at the queue when nobody wakes us
    inbox_first: float = 5.0  # at most this long the outbox waits for the inbox to read


def recover_interrupted(policy: OutboxPolicy, now: datetime) -> list[int]:
    """Apply the configured policy to rows a crash left in `sending` (I5); logs each."""
    recipients = queries.sending_recipients()
    ids = queries.recover_sending(policy.on_sending, now)  # under the write lock
    for row_id in ids:
        to = recipients.get(row_id)
        who = mask_phone(to) if to is not None else "?"
        if policy.on_sending == "resend":
            log.warning("outbox %d to %s was interrupted while sending: resending it "
                        "(policy resend; the recipient may get it twice)", row_id, who)
        else:
            log.error("outbox %d to %s was interrupted while sending: marked failed "
                      "(policy fail; it may or may not have gone out)", row_id, who)
    return ids


def backoff_delay(policy: OutboxPolicy, attempts: int) -> timedelta:
    """The wait before attempt `attempts + 1`: doubling from `backoff`, capped, ±10 %."""
    base = policy.backoff.total_seconds() * (2 ** max(0, attempts - 1))
    seconds = min(base, policy.backoff_max.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


def route_queued(pool: Pool) -> int:
    """Give queued rows queued without a preference (alerts, top-up outcomes) the modem
    of their recipient's operator, so they leave on-net too. Only with several modems."""
    if len(pool.handles) < 2:
        return 0
    by_modem: dict[str, list[int]] = {}
    for row_id, to in hot.unrouted_outbox():
        name = pool.route(to)
        if name is not None:
            by_modem.setdefault(name, []).append(row_id)
    routed = 0
    for name, ids in by_modem.items():
        routed += hot.set_preferred_modem(name, ids)
    return routed


class OutboxWorker(LoopThread):
    """Sends the queue through one modem, on its own thread."""

    def __init__(self, handle: ModemHandle, pool: Pool, policy: OutboxPolicy,
                 clock: Callable[[], datetime], stop: threading.Event) -> None:
        super().__init__(f"outbox-{handle.name}")
        self.handle = handle
        self.pool = pool
        self.policy = policy
        self.clock = clock
        self._stop = stop
        self.sent = 0
        self.failed = 0
        self.busy_seconds = 0.0  # time spent inside AT+CMGS (bench: send-slot usage)
        self.heartbeat = self.clock()  # last loop turn (the daemon's watchdog looks at it)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = self.clock()
            try:
                worked = self.run_once()
            except Exception:  # never let one bad turn end the worker
                log.exception("outbox worker %s: unexpected error", self.handle.name)
                worked = False
            if not worked:
                self._wake.wait(self.policy.idle_poll)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim and send one message; False when there was nothing to do."""
        if not self.handle.healthy:
            return False
        # Let the inbox read a just-notified message first (bounded: a stuck inbox must not
        # stop the outbox), so that its reply is queued before the next alert is taken.
        self.handle.wait_for_inbox(self.policy.inbox_first)
        now = self.clock()
        row = hot.claim_next_outbox(self.pool.excluded_for(self.handle.name), now,
                                    self.handle.name)
        if row is None:
            return False
        self._send(row)
        return True

    def _send(self, row: ClaimedOutbox) -> None:
        crash_point("after_sending")
        started = self.clock()
        who = mask_phone(row.to)
        try:
            refs = self.handle.send_text(row.to, row.text)
        except CmsError as exc:
            self._retry_or_fail(row, str(exc), permanent=not exc.transient)
            return
        except (ModemTimeout, ModemGone) as exc:
            # The modem stopped answering: out of service; the message may have gone out
            # (at least once, I5), and goes on through another modem or this one later.
            self.handle.mark_unhealthy(str(exc))
            self._retry_or_fail(row, str(exc), permanent=False, soon=True)
            return
        except PduError as exc:
            self._retry_or_fail(row, f"cannot encode: {exc}", permanent=True)
            return
        except ModemError as exc:
            self._retry_or_fail(row, str(exc), permanent=False)
            return
        finally:
            self.busy_seconds += (self.clock() - started).total_seconds()
        crash_point("after_submit")
        hot.mark_sent(row.id, refs, self.clock())
        self.sent += 1
        log.info("outbox %d (%s) sent to %s via %s in %d part(s)", row.id, row.kind, who,
                 self.handle.name, len(refs))

    def _retry_or_fail(self, row: ClaimedOutbox, error: str, *, permanent: bool,
                       soon: bool = False) -> None:
        now = self.clock()
        who = mask_phone(row.to)
        attempts = int(row.attempts)
        if permanent or attempts >= self.policy.max_attempts:
            queries.mark_failed(row.id, error, now)  # under the write lock
            self.failed += 1
            log.error("outbox %d (%s) to %s FAILED after %d attempt(s) via %s: %s", row.id,
                      row.kind, who, attempts, self.handle.name, error)
            return
        delay = timedelta(0) if soon else backoff_delay(self.policy, attempts)
        queries.requeue(row.id, now + delay, error)  # under the write lock
        log.warning("outbox %d (%s) to %s: attempt %d via %s failed (%s); retry in %ds",
                    row.id, row.kind, who, attempts, self.handle.name, error,
                    int(delay.total_seconds()))
