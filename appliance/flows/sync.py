"""The bank sync job: pull changes after the stored cursor, page by page (DESIGN §3, I4).

Each page is ONE write transaction: the upserts of customers, agreements, accounts and new
movements, the alert outbox rows those movements cause, and the new cursor. A crash or an
outage (bank or box) therefore neither skips nor repeats anything: the next run starts from
the last committed cursor, and the unique outbox key `alert:<movement>:<phone>` makes each
alert go at most once even if the same movement is delivered again.

The very first sync of a fresh database (no cursor yet) is a *baseline*: it loads the
bank's history without alerting old movements, until the feed has been read to its end
once. Pass `alert_backlog=True` to alert those too.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from appliance.core.alerts import alert_text
from appliance.core.rules import Rules
from appliance.core.views import AccountView, AgreementView, MovementView
from appliance.flows.ports import BankMovement, ChangeFeed, ChangesPage, PageRejected
from appliance.store import sync as rows
from appliance.store.db import write_transaction
from appliance.store.leader import Leadership
from appliance.store.state import (
    STATE_BANK_CURSOR,
    STATE_BASELINE,
    get_state,
    set_last_sync_at,
    set_state,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class SyncReport:
    """What one `sync_once` run did."""

    pages: int = 0
    customers: int = 0
    agreements: int = 0
    accounts: int = 0
    movements: int = 0  # new movements stored
    alerts: int = 0  # alert SMS queued
    cursor: str | None = None
    complete: bool = False  # the feed was read to its end (`more` was false)


@dataclass
class _PageResult:
    movements: int
    alerts: int


def sync_once(
    client: ChangeFeed,
    rules: Rules,
    now: datetime,
    *,
    page_size: int = 200,
    max_pages: int | None = None,
    alert_backlog: bool = False,
    on_page: Callable[[int], None] | None = None,
) -> SyncReport:
    """Pull every page after the stored cursor into the open database; queue alerts.

    Raises the bank's error when it fails (and `PageRejected` for a page the store refuses);
    the pages committed before the failure stay, and the next run goes on from there.
    `on_page` hears the alerts each page queued, once it is committed: a salary day's
    first thousand go out while the next pages are applied.
    """
    cursor = get_state(STATE_BANK_CURSOR)
    baseline = get_state(STATE_BASELINE)
    if cursor is None and baseline is None and not alert_backlog:
        baseline = "running"
    totals: dict[str, int] = {"customers": 0, "agreements": 0, "accounts": 0}
    pages = movements = alerts = 0
    complete = False
    views = _Views()
    # While one page is applied and committed, the next is already being fetched: the bank
    # and the network work in parallel with our database. A prefetched page whose
    # predecessor fails to commit is simply dropped (the cursor was not advanced).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bank-prefetch") as pool:
        ahead: Future[ChangesPage] | None = None
        while max_pages is None or pages < max_pages:
            page = ahead.result() if ahead is not None else client.changes(cursor, page_size)
            ahead = None
            if page.more and (max_pages is None or pages + 1 < max_pages):
                ahead = pool.submit(client.changes, page.cursor, page_size)
            silent = baseline == "running"
            try:
                with write_transaction():
                    result = _apply_page(page, rules, now, alerts_on=not silent, views=views)
                    set_state(STATE_BANK_CURSOR, page.cursor)
                    if not page.more:
                        set_last_sync_at(now)
                        if baseline == "running":
                            set_state(STATE_BASELINE, "done")
                    elif baseline == "running":
                        set_state(STATE_BASELINE, "running")
            except (peewee.IntegrityError, sqlite3.IntegrityError) as exc:
                # A page that breaks our constraints (a movement of an unknown account,
                # ...) is the bank's protocol error; nothing of it was committed.
                _drop(ahead)
                raise PageRejected(
                    f"changes page after {cursor!r} rejected: {exc}"
                ) from exc
            except BaseException:
                _drop(ahead)
                raise
            if not page.more and baseline == "running":
                baseline = "done"
            pages += 1
            totals["customers"] += len(page.customers)
            totals["agreements"] += len(page.agreements)
            totals["accounts"] += len(page.accounts)
            movements += result.movements
            alerts += result.alerts
            cursor = page.cursor
            if on_page is not None and result.alerts:
                on_page(result.alerts)
            if not page.more:
                complete = True
                break
        _drop(ahead)
    report = SyncReport(pages=pages, movements=movements, alerts=alerts, cursor=cursor,
                        complete=complete, **totals)
    # A quiet feed logs at DEBUG: a sync runs every minute and an idle line each time
    # would bury what matters in the journal.
    level = logging.INFO if movements or alerts or not complete else logging.DEBUG
    log.log(level, "bank sync: %d page(s), %d new movement(s), %d alert(s)%s", pages,
            movements, alerts, "" if complete else ", more to come")
    return report


def sync_if_leading(leader: Leadership, client: ChangeFeed, rules: Rules, now: datetime,
                    *, page_size: int, on_page: Callable[[int], None] | None = None
                    ) -> SyncReport | None:
    """`sync_once` when this box leads the bank sync; None when another box of the fleet
    holds it (DESIGN §10: one box at a time, any box takes over when the holder dies)."""
    if not leader.held():
        return None
    return sync_once(client, rules, now, page_size=page_size, on_page=on_page)


def _drop(ahead: Future[ChangesPage] | None) -> None:
    """Wait for an unneeded prefetch to end, ignoring its outcome."""
    if ahead is not None:
        ahead.cancel()
        with contextlib.suppress(BaseException):
            ahead.result()


def _apply_page(
    page: ChangesPage, rules: Rules, now: datetime, *, alerts_on: bool, views: _Views
) -> _PageResult:
    """Upsert one page and queue its alerts (inside the caller's transaction)."""
    views.forget(page)
    rows.upsert_customers(((c.id, c.name) for c in page.customers), now)
    rows.upsert_accounts((a.id, a.customer_id, a.kind, a.number, a.currency, a.balance,
                          a.as_of) for a in page.accounts)
    rows.upsert_agreements([(a.id, a.customer_id, a.phone, a.language, a.alert_limit,
                             a.services, a.active, a.alerts_enabled)
                            for a in page.agreements], now)
    rows.set_sim_changed([(a.id, a.sim_changed_at) for a in page.agreements])  # SIM hold
    rows.upsert_cards([(c.id, c.customer_id, c.last4, c.status) for c in page.cards], now)
    movements = page.movements
    new_ids = rows.insert_new_movements(
        [(m.id, m.account_id, m.amount, m.type, m.booked_at, m.balance_after)
         for m in movements], now)
    new = [m for m in movements if m.id in new_ids]
    queued = _queue_alerts(new, rules, now, views) if alerts_on and new else 0
    return _PageResult(movements=len(new), alerts=queued)


@dataclass
class _Views:
    """The core's views of accounts and subscribed agreements, kept across the pages of one
    run (a large sync touches the same customers on every page). A page that changes
    accounts drops those; a page that changes any agreement drops all agreements."""

    accounts: dict[str, tuple[str, AccountView]] = field(default_factory=dict)
    subscribers: dict[str, list[tuple[AgreementView, datetime | None]]] = field(
        default_factory=dict)

    def forget(self, page: ChangesPage) -> None:
        for account in page.accounts:
            self.accounts.pop(account.id, None)
        if page.agreements:
            self.subscribers.clear()


def _queue_alerts(
    new: Sequence[BankMovement], rules: Rules, now: datetime, views: _Views
) -> int:
    """Queue an alert for each (new movement, subscribed phone) that the core says is due."""
    accounts = views.accounts
    accounts.update(rows.account_views(sorted({m.account_id for m in new} - accounts.keys())))
    by_customer = views.subscribers
    missing = sorted(
        {accounts[m.account_id][0] for m in new if m.account_id in accounts}
        - by_customer.keys()
    )
    for customer in missing:
        by_customer[customer] = []
    for customer, agreement, since in rows.subscribed_agreements(missing):
        by_customer[customer].append((agreement, since))
    for customer in missing:
        by_customer[customer].sort(key=lambda v: v[0].id)
    alerts: list[rows.AlertRow] = []
    for m in new:
        owner = accounts.get(m.account_id)
        if owner is None:
            continue
        customer_id, account = owner
        subscribers = by_customer.get(customer_id)
        if not subscribers:
            continue
        movement = MovementView(id=m.id, account_id=m.account_id, amount=m.amount,
                                type=m.type, booked_at=m.booked_at,
                                balance_after=m.balance_after)
        for agreement, since in subscribers:
            if since is not None and m.booked_at < since:
                continue  # booked while alerts were off (STOP), synced after START
            text = alert_text(movement, agreement, account, rules, now)
            if text is not None:
                alerts.append((agreement.phone, text, f"alert:{m.id}:{agreement.phone}"))
    return rows.insert_alerts(alerts, now)
