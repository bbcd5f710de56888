"""The daemon's scheduled jobs (APScheduler): the bank sync and the daily
housekeeping that deletes finished traffic older than `retention_days`; top-up and bank
request passes."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from appliance.flows.fleet import route_queued
from appliance.flows.requests import perform_pending
from appliance.flows.sync import sync_if_leading
from appliance.flows.topups import submit_pending
from appliance.store.db import StoreError, writing
from appliance.store.ops import oldest_inbound_at, prune

if TYPE_CHECKING:
    from appliance.daemon.wiring import Daemon

log = logging.getLogger(__name__)

# Decided inbound states `prune` may delete (the oldest of them starts its steps).
_FINISHED_INBOUND = ("handled", "ignored", "undecodable")
# The first housekeeping pass waits this long after start: start-up work goes first.
HOUSEKEEPING_DELAY = timedelta(seconds=60)


def start_scheduler(d: Daemon, *, sync_now: bool) -> BackgroundScheduler:
    """The periodic jobs; with `sync_now`, the first bank sync runs at once."""
    s = d.settings
    sched = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    sched.add_job(d.sync_bank, "interval", seconds=float(s.bank.sync_interval),
                  id="bank-sync", **({"next_run_time": datetime.now(UTC)} if sync_now else {}))
    sched.add_job(d.housekeeping, "interval", days=1, id="housekeeping",
                  next_run_time=datetime.now(UTC) + HOUSEKEEPING_DELAY)
    sched.start()
    return sched


def submit_topups(d: Daemon) -> None:
    """Submit due top-up orders; their replies leave at once."""
    b = d.settings.bank
    n = submit_pending(d.bank, d.settings.rules, d.clock(),
                       hold_seconds=b.topup_hold_seconds, max_attempts=b.topup_max_attempts,
                       retry_after=b.topup_backoff_initial, retry_max=b.topup_backoff_max,
                       clock=d.clock)
    if n:
        route_queued(d.routing)
        d.wake_outbox()


def perform_requests(d: Daemon) -> None:
    """Make the due bank requests (STOP/START, SQ/EN/SR, BLLOKO); their replies leave at
    once."""
    b = d.settings.bank
    n = perform_pending(d.bank, d.settings.rules, d.clock(), retry_for=b.request_retry_for,
                        retry_after=b.topup_backoff_initial, retry_max=b.topup_backoff_max)
    if n:
        route_queued(d.routing)
        d.wake_outbox()


def sync_bank(d: Daemon) -> None:
    """One bank sync (scheduled); alerts it queues are sent at once."""
    def page_done(_alerts: int) -> None:
        # Each page's alerts leave once it is committed, routed on-net: the modems need
        # not wait for a payroll's last page (5,000 salaries: five pages of 1,000). The
        # database away: the routing after the sync (or the next sync) catches up.
        with contextlib.suppress(StoreError):
            route_queued(d.routing)
        d.wake_outbox()

    try:
        report = sync_if_leading(d.sync_leader, d.bank, d.settings.rules, d.clock(),
                                 page_size=d.settings.bank.page_size, on_page=page_done)
    except Exception as exc:
        d.last_sync_error = str(exc)
        if not isinstance(exc, StoreError):  # the database away: the store told it once
            log.warning("bank sync failed: %s", exc)
        return
    if report is None:  # another box of the fleet syncs the bank
        if not d.inbox_worker.synced:
            d.wake_inbox()
        return
    d.last_sync = d.clock()
    d.last_sync_error = None
    if report.alerts:
        route_queued(d.routing)
        d.wake_outbox()
    if not d.inbox_worker.synced:
        d.wake_inbox()  # messages may be waiting for the first sync


def housekeeping(d: Daemon) -> dict[str, int]:
    """Delete finished traffic older than `retention_days` (daily; once after start).

    `prune` deletes in one write transaction. To keep that short on a big database (the
    first pass after an upgrade may find years of rows), the cutoff advances one day at a
    time from the oldest decided inbound message, so each transaction holds the write lock
    for about one day's traffic and the other writers get in between. Returns the rows
    deleted per table; logs counts only.
    """
    days = int(d.settings.retention_days)
    totals = {"outbox": 0, "inbound": 0, "unknown_sender": 0}
    if days <= 0:  # 0: keep for ever
        return totals
    before = d.clock() - timedelta(days=days)
    try:
        oldest = oldest_inbound_at(_FINISHED_INBOUND)
        cutoff = before if oldest is None else min(before, oldest + timedelta(days=1))
        while True:
            with writing():
                deleted = prune(cutoff)
            for table, n in deleted.items():
                totals[table] = totals.get(table, 0) + n
            if cutoff >= before or d.stop_event.is_set():
                break
            cutoff = min(before, cutoff + timedelta(days=1))
    except Exception:
        log.exception("housekeeping: pruning old rows failed")
        return totals
    log.info("housekeeping: removed rows older than %d days: %d outgoing SMS, "
             "%d incoming SMS, %d refusal markers", days, totals["outbox"],
             totals["inbound"], totals["unknown_sender"])
    return totals
