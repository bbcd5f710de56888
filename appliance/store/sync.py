"""What one page of the bank's change feed writes (I4), in bulk, as plain rows.

Bulk writes go through `executemany` on the transaction's connection: peewee's query
builder costs about 1 ms per row, which made a 100,000-movement sync take minutes. The
SQL is still derived from the models (table and column names), so the models stay the
single source of the schema; values are converted by each field's own `db_value`, except
in the two hot loops (movements, accounts), which write the same stored forms directly
(a test checks the time format against the store's). The caller (`flows.sync`) holds the
page's write transaction; the rows come as tuples, so the store knows no bank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import peewee

from appliance.core.rules import language_from
from appliance.core.views import AccountView, AgreementView
from appliance.store.db import database
from appliance.store.dialect import executemany
from appliance.store.fields import utc_text
from appliance.store.models import (
    PRIORITY_ALERT,
    SERVICES,
    Account,
    Agreement,
    Card,
    Customer,
    Movement,
    OutboxMessage,
)

_CHUNK = 400  # rows per INSERT: well under SQLite's bound-parameter limit
_ZERO = timedelta(0)

# (id, name)
CustomerRow = tuple[str, str]
# (id, customer id, kind, number, currency, balance, as of)
AccountRow = tuple[str, str, str, str, str, Decimal, datetime]
# (id, customer id, phone, language, alert limit, services, active, alerts enabled)
AgreementRow = tuple[str, str, str, str, Decimal | None, Sequence[str], bool, bool]
# (id, customer id, last 4 digits, status)
CardRow = tuple[str, str, str, str]
# (id, account id, amount, type, booked at, balance after)
MovementRow = tuple[str, str, Decimal, str, datetime, Decimal]
# (phone, text, dedupe key)
AlertRow = tuple[str, str, str]


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


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
    sql = (f"INSERT INTO {_table(model)} "  # noqa: S608
           f"({_columns(fields)}) VALUES ({marks})")
    if or_ignore:
        sql += " ON CONFLICT DO NOTHING"
    if upsert:
        key = model._meta.primary_key.column_name
        sets = ", ".join(f'"{f.column_name}" = excluded."{f.column_name}"' for f in upsert)
        sql += f' ON CONFLICT ("{key}") DO UPDATE SET {sets}'
        if upsert_where:
            sql += f" WHERE {upsert_where}"
    return sql


def stored_time(ts: datetime) -> str:
    """`utc_text(ts)`, cheaper for the hot loop: the bank's times are already UTC, and
    isoformat is several times faster than strftime (a test checks they agree)."""
    if ts.utcoffset() == _ZERO and ts.year >= 1000:
        return ts.isoformat(" ", "microseconds")[:26]
    return utc_text(ts)


def _executemany(sql: str, rows: list[tuple[Any, ...]]) -> int:
    if not rows:
        return 0
    return executemany(database, sql, rows)


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


def upsert_customers(customers: Iterable[CustomerRow], now: datetime) -> None:
    fields = (Customer.id, Customer.name, Customer.updated_at)
    sql = _insert_sql(Customer, fields, upsert=fields[1:])
    _executemany(sql, _to_db(fields, ((cid, name, now) for cid, name in customers)))


def upsert_accounts(accounts: Iterable[AccountRow]) -> None:
    """Insert or update accounts; an account's balance never moves back to an older
    `as_of` (a replayed page, or one older than a top-up's balance)."""
    fields = (Account.id, Account.customer, Account.kind, Account.number, Account.currency,
              Account.balance, Account.as_of)
    as_of = Account.as_of.column_name
    sql = _insert_sql(Account, fields, upsert=fields[1:],
                      upsert_where=f'excluded."{as_of}" >= {_table(Account)}."{as_of}"')
    # Stored forms written out (money: the Decimal's string; times: utc_text): every page
    # of a large sync carries about as many accounts as movements.
    _executemany(sql, [
        (aid, customer, kind, number, currency, str(balance), stored_time(ts))
        for aid, customer, kind, number, currency, balance, ts in accounts
    ])


def upsert_agreements(agreements: Sequence[AgreementRow], now: datetime) -> None:
    if not agreements:
        return
    # A phone moved from one agreement to another (re-bound numbers): release it from the
    # old holder first, or the UNIQUE phone would refuse the page. The holder's own
    # update (this page or a later one) gives it its new number.
    incoming = {a[2]: a[0] for a in agreements}
    holders = _select_in(Agreement, (Agreement.id, Agreement.phone), Agreement.phone,
                         list(incoming))
    for holder_id, phone in holders:
        if incoming[phone] != holder_id:
            Agreement.update(phone=f"released:{holder_id}").where(
                Agreement.id == holder_id
            ).execute()
    fields = (Agreement.id, Agreement.customer, Agreement.phone, Agreement.language,
              Agreement.alert_limit, Agreement.services, Agreement.active, Agreement.updated_at,
              Agreement.alerts_enabled)
    # Alerts turned on again (off here, on in the page): from this sync on only. A
    # movement booked before, while they were off, is never alerted (DESIGN §4). A new
    # agreement has no such bound (its history is the baseline's or the backlog's).
    enabled = Agreement.alerts_enabled.column_name
    since_col = Agreement.alerts_since.column_name
    table = _table(Agreement)
    # Rounded up to the whole second: this sync read movements booked up to about `now`,
    # and one booked in the same second may have been booked while off.
    up = now.replace(microsecond=0) + (timedelta(seconds=1) if now.microsecond else _ZERO)
    since = stored_time(up)  # our own clock's text, no data, in the SQL
    sql = _insert_sql(Agreement, fields, upsert=fields[1:]) + (
        f', "{since_col}" = CASE WHEN excluded."{enabled}" = 1 AND {table}."{enabled}" = 0 '
        f"THEN '{since}' ELSE {table}.\"{since_col}\" END")
    _executemany(sql, _to_db(fields, (
        (aid, customer, phone, str(language_from(language)),
         limit, ",".join(s for s in SERVICES if s in services), active, now, alerts)
        for aid, customer, phone, language, limit, services, active, alerts in agreements
    )))


def upsert_cards(cards: Sequence[CardRow], now: datetime) -> None:
    """Insert or update cards as the bank shows them (the bank alone blocks or unblocks)."""
    fields = (Card.id, Card.customer, Card.last4, Card.status, Card.updated_at)
    _executemany(_insert_sql(Card, fields, upsert=fields[1:]),
                 _to_db(fields, ((*c, now) for c in cards)))


def insert_new_movements(movements: Sequence[MovementRow], now: datetime) -> set[str]:
    """Store the movements not seen before; return their ids (the ones that may alert)."""
    if not movements:
        return set()
    known = {
        str(r[0])
        for r in _select_in(Movement, (Movement.id,), Movement.id, [m[0] for m in movements])
    }
    new = [m for m in movements if m[0] not in known]
    fields = (Movement.id, Movement.account, Movement.amount, Movement.type,
              Movement.booked_at, Movement.balance_after, Movement.synced_at)
    # Values in the fields' stored forms (MoneyField: the Decimal's string; times:
    # utc_text), written out here because this is the hot loop of a large sync.
    synced = utc_text(now)
    _executemany(_insert_sql(Movement, fields), [
        (mid, account, str(amount), type_, stored_time(booked), str(after), synced)
        for mid, account, amount, type_, booked, after in new
    ])
    return {m[0] for m in new}


def account_views(ids: Sequence[str]) -> dict[str, tuple[str, AccountView]]:
    """(customer id, the core's view) of each account in `ids` that is stored."""
    a = Account
    return {
        str(row[0]): (str(row[1]), AccountView(
            id=str(row[0]), kind=str(row[2]), number=str(row[3]), currency=str(row[4]),
            balance=Decimal(str(row[5])),
        ))
        for row in _select_in(a, (a.id, a.customer, a.kind, a.number, a.currency, a.balance),
                              a.id, ids)
    }


def subscribed_agreements(
    customers: Sequence[str],
) -> list[tuple[str, AgreementView, datetime | None]]:
    """(customer id, view, alerts since) of the active agreements of `customers` that may
    get alerts: alerts on (no STOP in force). `alerts since`: movements booked before it
    are not alerted (None: no such bound)."""
    g = Agreement
    out: list[tuple[str, AgreementView, datetime | None]] = []
    for row in _select_in(
        g, (g.id, g.customer, g.phone, g.language, g.alert_limit, g.services, g.alerts_since),
        g.customer, customers,
        where=f'"{g.active.column_name}" = 1 AND "{g.alerts_enabled.column_name}" = 1',
    ):
        agreement = _agreement_view(row[:6])
        if agreement is not None:
            out.append((str(row[1]), agreement, g.alerts_since.python_value(row[6])))
    return out


def _agreement_view(row: Sequence[Any]) -> AgreementView | None:
    """The core's view of a subscribed agreement row, as `store.views.agreement_view`
    builds it; None when it has no alerts service or no alert limit (nothing to alert)."""
    agreement_id, customer_id, phone, language, limit, services = row
    service_set = frozenset(s.strip() for s in str(services).split(",") if s.strip())
    if limit is None or "alerts" not in service_set:
        return None
    return AgreementView(
        id=str(agreement_id), phone=str(phone), customer_id=str(customer_id),
        language=language_from(language),
        alert_limit=Decimal(str(limit)), services=service_set,
    )


def insert_alerts(alerts: Sequence[AlertRow], now: datetime) -> int:
    """Queue alert SMS; insert-or-ignore on the unique dedupe key: at most once per
    (movement, phone) (I4). Returns how many were new."""
    fields = (OutboxMessage.to, OutboxMessage.text, OutboxMessage.kind, OutboxMessage.priority,
              OutboxMessage.state, OutboxMessage.dedupe_key, OutboxMessage.attempts,
              OutboxMessage.created_at)
    created = utc_text(now)
    return _executemany(_insert_sql(OutboxMessage, fields, or_ignore=True), [
        (phone, text, "alert", PRIORITY_ALERT, "queued", key, 0, created)
        for phone, text, key in alerts
    ])


def set_sim_changed(changes: Sequence[tuple[str, datetime | None]]) -> None:
    """Record the bank's last SIM change behind each agreement's phone (the SIM-swap hold,
    DESIGN §4); None clears it. Inside the caller's page transaction."""
    for agreement_id, changed_at in changes:
        Agreement.update(sim_changed_at=changed_at).where(
            Agreement.id == agreement_id).execute()
