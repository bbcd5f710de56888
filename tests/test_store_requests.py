"""Store side of issue 12: a statement never shows another agreement's account (property
test over a real SQLite file), the v3 migration keeps a field database's agreements and
their top-up orders, and a bank request is created once per inbound key."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.rules import Rules
from appliance.core.statement import statement_text
from appliance.store import open_database
from appliance.store.migrations import MIGRATIONS, schema_version
from appliance.store.models import (
    Account,
    Agreement,
    BankRequest,
    Customer,
    InboundMessage,
    Movement,
    TopupOrder,
)
from appliance.store.requests import create_bank_request
from appliance.store.views import sender_view

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# customers → accounts per customer → movements per account (counts)
_SHAPES = st.lists(st.lists(st.integers(0, 8), min_size=0, max_size=3), min_size=2, max_size=4)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=_SHAPES, offsets=st.lists(st.integers(0, 3000), min_size=40, max_size=40))
def test_a_statement_never_shows_another_agreements_account(
        db: Any, shape: list[list[int]], offsets: list[int]) -> None:
    for model in (Movement, Account, Agreement, Customer):
        model.delete().execute()
    last4: dict[str, str] = {}
    k = 0
    for c, accounts in enumerate(shape):
        customer = Customer.create(id=f"C{c}", name=f"N{c}")
        Agreement.create(id=f"G{c}", customer=customer, phone=f"+3834412300{c}",
                         language=("sq", "en", "sr")[c % 3], alert_limit=Decimal(10))
        for a, moves in enumerate(accounts):
            number = f"11100000{c}{a}{c}{a}{c}{a}{c}{a}"
            last4[f"A{c}{a}"] = number[-4:]
            Account.create(id=f"A{c}{a}", customer=customer, kind="current", number=number,
                           balance=Decimal(1), as_of=NOW)
            for m in range(moves):
                Movement.create(id=f"M{c}{a}{m}", account=f"A{c}{a}", amount=Decimal("-1.50"),
                                type="card_payment",
                                booked_at=NOW - timedelta(minutes=offsets[k % 40]))
                k += 1
    rules = Rules()
    for c in range(len(shape)):
        view = sender_view(f"+3834412300{c}", NOW, with_movements=True)
        assert view is not None
        own = {a.id for a in view.accounts}
        assert own == {f"A{c}{a}" for a in range(len(shape[c]))}
        assert view.movements is not None
        assert {m.account_id for m in view.movements} <= own
        text = "\n".join(statement_text(view.accounts, view.movements, NOW, rules,
                                        view.agreement.language))
        for account_id, digits in last4.items():
            if account_id not in own:
                assert f"***{digits}" not in text
        # The newest movements of its own accounts, as many as the statement shows.
        expected = sorted(((r.booked_at, r.id) for r in Movement.select().where(
            Movement.account.in_(list(own)))), reverse=True)[:5]
        assert [(m.booked_at, m.id) for m in view.movements] == expected


def test_without_the_flag_no_movements_are_loaded(db: Any) -> None:
    customer = Customer.create(id="C1", name="A")
    Agreement.create(id="G1", customer=customer, phone="+38344123456")
    view = sender_view("+38344123456", NOW)
    assert view is not None
    assert view.movements is None


def test_v3_keeps_agreements_and_orders_and_allows_serbian(tmp_path: Path) -> None:
    path = tmp_path / "field.sqlite"
    db = peewee.SqliteDatabase(str(path), pragmas={"foreign_keys": 1})
    db.connect()
    for m in MIGRATIONS[:2]:
        with db.atomic():
            m.apply(db)
            db.execute_sql(f"PRAGMA user_version = {m.version}")
    db.close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("INSERT INTO customer (id, name) VALUES ('C1', 'Arta')")
        raw.execute("INSERT INTO agreement (id, customer_id, phone, language, alert_limit,"
                    " services, active) VALUES ('G1', 'C1', '+38344123456', 'en', '500',"
                    " 'balance,alerts', 1)")
        raw.execute("INSERT INTO topup_order (idempotency_key, agreement_id, target, operator,"
                    " amount, state, created_at, updated_at) VALUES ('k', 'G1', '+38344123456',"
                    " 'vala', '5', 'done', '2026-11-01 08:00:00', '2026-11-01 08:00:00')")
    raw.close()
    opened = open_database(path)
    try:
        assert schema_version(opened) == MIGRATIONS[-1].version
        row = Agreement.get_by_id("G1")
        assert row.language == "en"
        assert row.alerts_enabled is True
        assert TopupOrder.get().agreement_id == "G1"
        assert opened.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        Agreement.update(language="sr").where(Agreement.id == "G1").execute()
        assert Agreement.get_by_id("G1").language == "sr"
        with pytest.raises(peewee.IntegrityError):
            Agreement.update(language="de").where(Agreement.id == "G1").execute()
        assert opened.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        opened.close()


def test_a_request_is_created_once_per_key(db: Any) -> None:
    customer = Customer.create(id="C1", name="A")
    Agreement.create(id="G1", customer=customer, phone="+38344123456")
    inbound = InboundMessage.create(dedupe_key="d", modem="m", pdu="00", received_at=NOW)
    for _ in range(2):
        create_bank_request(idempotency_key="sms-x", agreement_id="G1", inbound_id=inbound.id,
                            kind="card_block", params={"last4": "4821", "customer_id": "C1"},
                            now=NOW)
    assert BankRequest.select().count() == 1
