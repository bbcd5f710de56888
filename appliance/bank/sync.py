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

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from appliance.bank.client import (
    BankAccount,
    BankAgreement,
    BankClient,
    BankCustomer,
    BankMovement,
    BankProtocolError,
    ChangesPage,
)
from appliance.core.alerts import alert_text
from appliance.core.rules import Rules
from appliance.core.views import AccountView, AgreementView, MovementView
from appliance.store.db import write_transaction
from appliance.store.models import (
    PRIORITY_ALERT,
    SERVICES,
    Account,
    Agreement,
    Customer,
    Movement,
    OutboxMessage,
)
from appliance.store.queries import (
    STATE_BANK_CURSOR,
    account_view,
    agreement_view,
    get_state,
    set_last_sync_at,
    set_state,
)

log = logging.getLogger(__name__)

# "running" while the first sync of a fresh database loads the bank's history (no alerts
# for it), "done" once the feed was read to its end.
STATE_BASELINE = "bank.alert_baseline"
_CHUNK = 400  # rows per INSERT: well under SQLite's bound-parameter limit


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
    client: BankClient,
    rules: Rules,
    now: datetime,
    *,
    page_size: int = 200,
    max_pages: int | None = None,
    alert_backlog: bool = False,
) -> SyncReport:
    """Pull every page after the stored cursor into the open database; queue alerts.

    Raises `BankError` (e.g. `BankUnavailable`) when the bank fails; the pages committed
    before the failure stay, and the next run goes on from there.
    """
    cursor = get_state(STATE_BANK_CURSOR)
    baseline = get_state(STATE_BASELINE)
    if cursor is None and baseline is None and not alert_backlog:
        baseline = "running"
    totals: dict[str, int] = {"customers": 0, "agreements": 0, "accounts": 0}
    pages = movements = alerts = 0
    complete = False
    while max_pages is None or pages < max_pages:
        page = client.changes(cursor, page_size)
        silent = baseline == "running"
        try:
            with write_transaction():
                result = _apply_page(page, rules, now, alerts_on=not silent)
                set_state(STATE_BANK_CURSOR, page.cursor)
                if not page.more:
                    set_last_sync_at(now)
                    if baseline == "running":
                        set_state(STATE_BASELINE, "done")
                elif baseline == "running":
                    set_state(STATE_BASELINE, "running")
        except peewee.IntegrityError as exc:
            # A page that breaks our constraints (a movement of an unknown account, ...)
            # is the bank's protocol error; nothing of it was committed.
            raise BankProtocolError(f"changes page after {cursor!r} rejected: {exc}") from exc
        if not page.more and baseline == "running":
            baseline = "done"
        pages += 1
        totals["customers"] += len(page.customers)
        totals["agreements"] += len(page.agreements)
        totals["accounts"] += len(page.accounts)
        movements += result.movements
        alerts += result.alerts
        cursor = page.cursor
        if not page.more:
            complete = True
            break
    report = SyncReport(pages=pages, movements=movements, alerts=alerts, cursor=cursor,
                        complete=complete, **totals)
    log.info("bank sync: %d page(s), %d new movement(s), %d alert(s)%s", pages, movements,
             alerts, "" if complete else ", more to come")
    return report


def _apply_page(page: ChangesPage, rules: Rules, now: datetime, *, alerts_on: bool) -> _PageResult:
    """Upsert one page and queue its alerts (inside the caller's transaction)."""
    _upsert_customers(page.customers, now)
    _upsert_accounts(page.accounts)
    _upsert_agreements(page.agreements, now)
    new = _insert_new_movements(page.movements, now)
    queued = _queue_alerts(new, rules, now) if alerts_on and new else 0
    return _PageResult(movements=len(new), alerts=queued)


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), _CHUNK):
        yield rows[i : i + _CHUNK]


def _upsert_customers(customers: Sequence[BankCustomer], now: datetime) -> None:
    rows = [{"id": c.id, "name": c.name, "updated_at": now} for c in customers]
    for chunk in _chunks(rows):
        Customer.insert_many(chunk).on_conflict(
            conflict_target=[Customer.id], preserve=[Customer.name, Customer.updated_at]
        ).execute()


def _upsert_accounts(accounts: Sequence[BankAccount]) -> None:
    rows = [
        {"id": a.id, "customer": a.customer_id, "kind": a.kind, "number": a.number,
         "currency": a.currency, "balance": a.balance, "as_of": a.as_of}
        for a in accounts
    ]
    for chunk in _chunks(rows):
        Account.insert_many(chunk).on_conflict(
            conflict_target=[Account.id],
            preserve=[Account.customer, Account.kind, Account.number, Account.currency,
                      Account.balance, Account.as_of],
            # Never let an older balance overwrite a newer one (a replayed page).
            where=(peewee.EXCLUDED.as_of >= Account.as_of),
        ).execute()


def _upsert_agreements(agreements: Sequence[BankAgreement], now: datetime) -> None:
    if not agreements:
        return
    # A phone moved from one agreement to another (re-bound numbers): release it from the
    # old holder first, or the UNIQUE phone would refuse the page. The holder's own
    # update (this page or a later one) gives it its new number.
    incoming = {a.phone: a.id for a in agreements}
    phones = list(incoming)
    for i in range(0, len(phones), _CHUNK):
        holders = Agreement.select(Agreement.id, Agreement.phone).where(
            Agreement.phone.in_(phones[i : i + _CHUNK])
        )
        for holder in holders:
            if incoming[holder.phone] != holder.id:
                Agreement.update(phone=f"released:{holder.id}").where(
                    Agreement.id == holder.id
                ).execute()
    rows = [
        {
            "id": a.id, "customer": a.customer_id, "phone": a.phone,
            "language": "en" if a.language.lower().startswith("en") else "sq",
            "alert_limit": a.alert_limit,
            "services": ",".join(s for s in SERVICES if s in a.services),
            "active": a.active, "updated_at": now,
        }
        for a in agreements
    ]
    for chunk in _chunks(rows):
        Agreement.insert_many(chunk).on_conflict(
            conflict_target=[Agreement.id],
            preserve=[Agreement.customer, Agreement.phone, Agreement.language,
                      Agreement.alert_limit, Agreement.services, Agreement.active,
                      Agreement.updated_at],
        ).execute()


def _insert_new_movements(
    movements: Sequence[BankMovement], now: datetime
) -> list[BankMovement]:
    """Store the movements not seen before; return them (the ones that may alert)."""
    if not movements:
        return []
    ids = [m.id for m in movements]
    known: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        known.update(
            str(r[0]) for r in Movement.select(Movement.id)
            .where(Movement.id.in_(ids[i : i + _CHUNK])).tuples()
        )
    new = [m for m in movements if m.id not in known]
    rows = [
        {"id": m.id, "account": m.account_id, "amount": m.amount, "type": m.type,
         "booked_at": m.booked_at, "balance_after": m.balance_after, "synced_at": now}
        for m in new
    ]
    for chunk in _chunks(rows):
        Movement.insert_many(chunk).execute()
    return new


def _queue_alerts(new: Sequence[BankMovement], rules: Rules, now: datetime) -> int:
    """Queue an alert for each (new movement, subscribed phone) that the core says is due."""
    account_ids = sorted({m.account_id for m in new})
    accounts: dict[str, tuple[str, AccountView]] = {}
    for i in range(0, len(account_ids), _CHUNK):
        for row in Account.select().where(Account.id.in_(account_ids[i : i + _CHUNK])):
            accounts[str(row.id)] = (str(row.customer_id), account_view(row))
    customer_ids = sorted({customer for customer, _view in accounts.values()})
    by_customer: dict[str, list[AgreementView]] = {}
    for i in range(0, len(customer_ids), _CHUNK):
        rows = Agreement.select().where(
            Agreement.customer.in_(customer_ids[i : i + _CHUNK]) & (Agreement.active == 1)
        ).order_by(Agreement.id)
        for row in rows:
            by_customer.setdefault(str(row.customer_id), []).append(agreement_view(row))
    outbox: list[dict[str, Any]] = []
    for m in new:
        owner = accounts.get(m.account_id)
        if owner is None:
            continue
        customer_id, account = owner
        view = MovementView(id=m.id, account_id=m.account_id, amount=m.amount, type=m.type,
                            booked_at=m.booked_at, balance_after=m.balance_after)
        for agreement in by_customer.get(customer_id, ()):
            text = alert_text(view, agreement, account, rules, now)
            if text is None:
                continue
            outbox.append({
                "to": agreement.phone, "text": text, "kind": "alert",
                "priority": PRIORITY_ALERT, "state": "queued",
                "dedupe_key": f"alert:{m.id}:{agreement.phone}", "created_at": now,
            })
    queued = 0
    for chunk in _chunks(outbox):
        # INSERT OR IGNORE on the unique dedupe key: at most once per (movement, phone).
        queued += int(OutboxMessage.insert_many(chunk).on_conflict_ignore().as_rowcount()
                      .execute())
    return queued
