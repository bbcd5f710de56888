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
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
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
from appliance.core.rules import Language, Rules
from appliance.core.views import AccountView, AgreementView, MovementView
from appliance.store.db import database, write_transaction
from appliance.store.fields import utc_text
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
                raise BankProtocolError(
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
    _upsert_customers(page.customers, now)
    _upsert_accounts(page.accounts)
    _upsert_agreements(page.agreements, now)
    new = _insert_new_movements(page.movements, now)
    queued = _queue_alerts(new, rules, now, views) if alerts_on and new else 0
    return _PageResult(movements=len(new), alerts=queued)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


# Bulk writes go through `executemany` on the transaction's connection: peewee's query
# builder costs about 1 ms per row, which made a 100,000-movement sync take minutes. The
# SQL is still derived from the models (table and column names), so the models stay the
# single source of the schema; values are converted by each field's own `db_value`, except
# in the two hot loops (movements, accounts), which write the same stored forms directly
# (a test checks the time format against the store's).


def _table(model: type[peewee.Model]) -> str:
    return f'"{model._meta.table_name}"'


def _columns(fields: Sequence[peewee.Field]) -> str:
    return ", ".join(f'"{f.column_name}"' for f in fields)


def _to_db(fields: Sequence[peewee.Field], rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(f.db_value(v) for f, v in zip(fields, row, strict=True)) for row in rows]


def _insert_sql(
    model: type[peewee.Model], fields: Sequence[peewee.Field], *, or_ignore: bool = False,
    upsert: Sequence[peewee.Field] = (), upsert_where: str = "",
) -> str:
    marks = ", ".join("?" * len(fields))
    sql = (f"INSERT {'OR IGNORE ' if or_ignore else ''}INTO {_table(model)} "  # noqa: S608
           f"({_columns(fields)}) VALUES ({marks})")
    if upsert:
        key = model._meta.primary_key.column_name
        sets = ", ".join(f'"{f.column_name}" = excluded."{f.column_name}"' for f in upsert)
        sql += f' ON CONFLICT ("{key}") DO UPDATE SET {sets}'
        if upsert_where:
            sql += f" WHERE {upsert_where}"
    return sql


_ZERO = timedelta(0)


def _stored_time(ts: datetime) -> str:
    """`utc_text(ts)`, cheaper for the hot loop: the bank's times are already UTC, and
    isoformat is several times faster than strftime (a test checks they agree)."""
    if ts.utcoffset() == _ZERO and ts.year >= 1000:
        return ts.isoformat(" ", "microseconds")[:26]
    return utc_text(ts)


def _executemany(sql: str, rows: list[tuple[Any, ...]]) -> int:
    if not rows:
        return 0
    cursor = database.connection().executemany(sql, rows)
    return int(cursor.rowcount)


def _select_in(
    model: type[peewee.Model], fields: Sequence[peewee.Field], key: peewee.Field,
    keys: Sequence[str], *, where: str = "",
) -> list[tuple[Any, ...]]:
    """SELECT `fields` of the rows whose `key` is in `keys` (chunked under SQLite's
    parameter limit); `where` is an extra condition of our own (never data)."""
    head = (f"SELECT {_columns(fields)} FROM {_table(model)} "  # noqa: S608 -- names from models
            f'WHERE {where}{" AND " if where else ""}"{key.column_name}" IN')
    out: list[tuple[Any, ...]] = []
    for chunk in _chunks(keys):
        marks = ", ".join("?" * len(chunk))
        out.extend(database.execute_sql(f"{head} ({marks})", list(chunk)).fetchall())
    return out


def _upsert_customers(customers: Sequence[BankCustomer], now: datetime) -> None:
    fields = (Customer.id, Customer.name, Customer.updated_at)
    sql = _insert_sql(Customer, fields, upsert=fields[1:])
    _executemany(sql, _to_db(fields, ((c.id, c.name, now) for c in customers)))


def _upsert_accounts(accounts: Sequence[BankAccount]) -> None:
    fields = (Account.id, Account.customer, Account.kind, Account.number, Account.currency,
              Account.balance, Account.as_of)
    # Never let an older balance overwrite a newer one (a replayed page).
    as_of = Account.as_of.column_name
    sql = _insert_sql(Account, fields, upsert=fields[1:],
                      upsert_where=f'excluded."{as_of}" >= {_table(Account)}."{as_of}"')
    # Stored forms written out (money: the Decimal's string; times: utc_text): every page
    # of a large sync carries about as many accounts as movements.
    _executemany(sql, [
        (a.id, a.customer_id, a.kind, a.number, a.currency, str(a.balance),
         _stored_time(a.as_of))
        for a in accounts
    ])


def _upsert_agreements(agreements: Sequence[BankAgreement], now: datetime) -> None:
    if not agreements:
        return
    # A phone moved from one agreement to another (re-bound numbers): release it from the
    # old holder first, or the UNIQUE phone would refuse the page. The holder's own
    # update (this page or a later one) gives it its new number.
    incoming = {a.phone: a.id for a in agreements}
    holders = _select_in(Agreement, (Agreement.id, Agreement.phone), Agreement.phone,
                         list(incoming))
    for holder_id, phone in holders:
        if incoming[phone] != holder_id:
            Agreement.update(phone=f"released:{holder_id}").where(
                Agreement.id == holder_id
            ).execute()
    fields = (Agreement.id, Agreement.customer, Agreement.phone, Agreement.language,
              Agreement.alert_limit, Agreement.services, Agreement.active, Agreement.updated_at)
    sql = _insert_sql(Agreement, fields, upsert=fields[1:])
    _executemany(sql, _to_db(fields, (
        (a.id, a.customer_id, a.phone, "en" if a.language.lower().startswith("en") else "sq",
         a.alert_limit, ",".join(s for s in SERVICES if s in a.services), a.active, now)
        for a in agreements
    )))


def _insert_new_movements(
    movements: Sequence[BankMovement], now: datetime
) -> list[BankMovement]:
    """Store the movements not seen before; return them (the ones that may alert)."""
    if not movements:
        return []
    known = {
        str(r[0])
        for r in _select_in(Movement, (Movement.id,), Movement.id, [m.id for m in movements])
    }
    new = [m for m in movements if m.id not in known]
    fields = (Movement.id, Movement.account, Movement.amount, Movement.type,
              Movement.booked_at, Movement.balance_after, Movement.synced_at)
    # Values in the fields' stored forms (MoneyField: the Decimal's string; times:
    # utc_text), written out here because this is the hot loop of a large sync.
    synced = utc_text(now)
    _executemany(_insert_sql(Movement, fields), [
        (m.id, m.account_id, str(m.amount), m.type, _stored_time(m.booked_at),
         str(m.balance_after), synced)
        for m in new
    ])
    return new


@dataclass
class _Views:
    """The core's views of accounts and subscribed agreements, kept across the pages of one
    run (a large sync touches the same customers on every page). A page that changes
    accounts drops those; a page that changes any agreement drops all agreements."""

    accounts: dict[str, tuple[str, AccountView]] = field(default_factory=dict)
    subscribers: dict[str, list[AgreementView]] = field(default_factory=dict)

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
    a = Account
    for row in _select_in(
        a, (a.id, a.customer, a.kind, a.number, a.currency, a.balance), a.id,
        sorted({m.account_id for m in new} - accounts.keys()),
    ):
        accounts[str(row[0])] = (str(row[1]), AccountView(
            id=str(row[0]), kind=str(row[2]), number=str(row[3]), currency=str(row[4]),
            balance=Decimal(str(row[5])),
        ))
    by_customer = views.subscribers
    missing = sorted(
        {accounts[m.account_id][0] for m in new if m.account_id in accounts}
        - by_customer.keys()
    )
    for customer in missing:
        by_customer[customer] = []
    g = Agreement
    for row in _select_in(
        g, (g.id, g.customer, g.phone, g.language, g.alert_limit, g.services), g.customer,
        missing, where=f'"{g.active.column_name}" = 1',
    ):
        agreement = _agreement_view(row)
        if agreement is not None:
            by_customer[str(row[1])].append(agreement)
    for customer in missing:
        by_customer[customer].sort(key=lambda v: v.id)
    fields = (OutboxMessage.to, OutboxMessage.text, OutboxMessage.kind, OutboxMessage.priority,
              OutboxMessage.state, OutboxMessage.dedupe_key, OutboxMessage.attempts,
              OutboxMessage.created_at)
    outbox: list[tuple[Any, ...]] = []
    created = utc_text(now)
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
        for agreement in subscribers:
            text = alert_text(movement, agreement, account, rules, now)
            if text is not None:
                outbox.append((agreement.phone, text, "alert", PRIORITY_ALERT, "queued",
                               f"alert:{m.id}:{agreement.phone}", 0, created))
    # INSERT OR IGNORE on the unique dedupe key: at most once per (movement, phone).
    return _executemany(_insert_sql(OutboxMessage, fields, or_ignore=True), outbox)


def _agreement_view(row: Sequence[Any]) -> AgreementView | None:
    """The core's view of a subscribed agreement row, as `store.queries.agreement_view`
    builds it; None when it has no alerts service or no alert limit (nothing to alert)."""
    agreement_id, customer_id, phone, language, limit, services = row
    service_set = frozenset(s.strip() for s in str(services).split(",") if s.strip())
    if limit is None or "alerts" not in service_set:
        return None
    return AgreementView(
        id=str(agreement_id), phone=str(phone), customer_id=str(customer_id),
        language=Language.EN if language == "en" else Language.SQ,
        alert_limit=Decimal(str(limit)), services=service_set,
    )
