"""The core's views of the store's rows (agreements, accounts, movements, a sender)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from appliance.core.rules import language_from
from appliance.core.statement import STATEMENT_SIZE
from appliance.core.views import AccountView, AgreementView, MovementView, SenderView
from appliance.store.models import (
    Account,
    Agreement,
    Movement,
)
from appliance.store.state import DEFAULT_TIMEZONE, last_sync_at, local_day_start
from appliance.store.topups import topups_since


def agreement_view(row: Agreement) -> AgreementView:
    """The core's view of an agreement row.

    The bank sends `alert_limit = null` for "no alerts"; the view has no such value, so an
    agreement without a limit is shown without the `alerts` service.
    """
    services = row.service_set()
    limit = row.alert_limit
    if limit is None:
        services = services - {"alerts"}
    language = language_from(row.language)
    return AgreementView(
        id=str(row.id),
        phone=str(row.phone),
        customer_id=str(row.customer_id),
        language=language,
        alert_limit=limit if limit is not None else AgreementView.alert_limit,
        services=frozenset(services),
        sim_changed_at=row.sim_changed_at,
    )


def account_view(row: Account) -> AccountView:
    """The core's view of an account row (full number: the core masks it)."""
    return AccountView(
        id=str(row.id),
        kind=str(row.kind),
        number=str(row.number),
        balance=row.balance,
        currency=str(row.currency),
        as_of=row.as_of,
    )


def movement_view(row: Movement) -> MovementView:
    """The core's view of a movement row."""
    return MovementView(
        id=str(row.id),
        account_id=str(row.account_id),
        amount=row.amount,
        type=str(row.type),
        booked_at=row.booked_at,
        balance_after=row.balance_after,
    )


def sender_view(
    phone: str, now: datetime, *, tz: str = DEFAULT_TIMEZONE, bank_reachable: bool = True,
    with_movements: bool = False,
) -> SenderView | None:
    """What the core may know about `phone` (E.164), or None without an active agreement.

    An inactive agreement is treated as none at all: such a number never gets account
    data (I7). Today's top-ups count the orders created since local midnight in `tz`
    that were not refused or failed. `with_movements`: the newest movements of its
    accounts (only those) for the statement; otherwise `movements` stays None.
    """
    agreement = Agreement.get_or_none((Agreement.phone == phone) & (Agreement.active == 1))
    if agreement is None:
        return None
    accounts = (
        Account.select()
        .where(Account.customer == agreement.customer_id)
        .order_by(Account.kind, Account.id)
    )
    count, amount = topups_since(str(agreement.id), local_day_start(now, tz))
    account_rows = tuple(account_view(a) for a in accounts)
    return SenderView(
        agreement=agreement_view(agreement),
        accounts=account_rows,
        last_sync_at=last_sync_at(),
        topups_today_count=count,
        topups_today_amount=amount,
        bank_reachable=bank_reachable,
        movements=latest_movements([a.id for a in account_rows]) if with_movements else None,
    )


def latest_movements(account_ids: Sequence[str], n: int = STATEMENT_SIZE
                     ) -> tuple[MovementView, ...]:
    """The `n` newest movements of these accounts, newest first (ties: the bank's id, as
    `core.statement.last_movements` orders them)."""
    if not account_ids:
        return ()
    rows = (Movement.select()
            .where(Movement.account.in_(list(account_ids)))
            .order_by(Movement.booked_at.desc(), Movement.id.desc())
            .limit(n))
    return tuple(movement_view(r) for r in rows)


def agreements_for_account(account_id: str) -> list[AgreementView]:
    """The active agreements of the account's customer (whose phones may get its alerts)."""
    account = Account.get_or_none(Account.id == account_id)
    if account is None:
        return []
    rows = (
        Agreement.select()
        .where((Agreement.customer == account.customer_id) & (Agreement.active == 1))
        .order_by(Agreement.id)
    )
    return [agreement_view(r) for r in rows]
