"""Models on a real SQLite file: exact money, UTC times, unique keys, constraints."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import peewee
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.store.db import is_postgres
from appliance.store.fields import parse_utc_text, to_decimal, utc_text
from appliance.store.models import (
    ALL_MODELS,
    Account,
    Agreement,
    Customer,
    InboundMessage,
    Movement,
    OutboxMessage,
    TopupOrder,
    UnknownSenderReply,
)
from tests.conftest import STORE_FILE

NOW = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)


def _customer_with_account(balance: Decimal = Decimal("1234.56")) -> tuple[Customer, Account]:
    customer = Customer.create(id="C1", name="Arta Krasniqi")
    account = Account.create(
        id="A1", customer=customer, kind="current", number="1110000000001234",
        currency="EUR", balance=balance, as_of=NOW,
    )
    return customer, account


def _agreement(customer: Customer, phone: str = "+38344123456", aid: str = "AG1") -> Agreement:
    agreement: Agreement = Agreement.create(
        id=aid, customer=customer, phone=phone, language="en", alert_limit=Decimal("500"),
        services="balance,topup,alerts", active=True, updated_at=NOW,
    )
    return agreement


def _inbound(key: str = "k1") -> InboundMessage:
    row: InboundMessage = InboundMessage.create(
        dedupe_key=key, modem="vala", pdu="00", sender="+38344123456", received_at=NOW
    )
    return row


def test_money_round_trips_exactly_and_is_text_on_disk(db: peewee.SqliteDatabase,
                                                        tmp_path: Path) -> None:
    values = [Decimal("0.10"), Decimal("5.50"), Decimal("-12.50"), Decimal("1234567890123.45"),
              Decimal("0.1") + Decimal("0.2")]
    _customer, account = _customer_with_account()
    for i, amount in enumerate(values):
        Movement.create(id=f"M{i}", account=account, amount=amount, type="card",
                        booked_at=NOW, balance_after=amount * 2)
    for i, amount in enumerate(values):
        movement = Movement.get_by_id(f"M{i}")
        assert isinstance(movement.amount, Decimal)
        assert movement.amount == amount
        assert str(movement.amount) == str(amount)  # 5.50 stays 5.50, not 5.5
        assert movement.balance_after == amount * 2
    if is_postgres(db):
        kinds = {str(row[0]) for row in db.execute_sql(
            'SELECT pg_typeof("amount")::text FROM "movement"')}
        texts = [row[0] for row in db.execute_sql('SELECT "amount" FROM "movement" ORDER BY "id"')]
    else:
        raw = sqlite3.connect(tmp_path / STORE_FILE)
        try:
            kinds = {row[0] for row in raw.execute('SELECT typeof("amount") FROM "movement"')}
            texts = [row[0] for row in raw.execute(
                'SELECT "amount" FROM "movement" ORDER BY "id"')]
        finally:
            raw.close()
    assert kinds == {"text"}
    assert texts == [str(v) for v in values]


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2,
                   allow_nan=False, allow_infinity=False))
def test_money_field_is_exact_for_any_two_decimal_amount(amount: Decimal) -> None:
    field = Movement.amount
    assert field.python_value(field.db_value(amount)) == amount


def test_money_refuses_floats_and_nan() -> None:
    with pytest.raises(TypeError):
        to_decimal(0.1)
    with pytest.raises(TypeError):
        to_decimal(True)
    with pytest.raises(ValueError, match="finite"):
        to_decimal(Decimal("NaN"))
    with pytest.raises(ValueError, match="not an amount"):
        to_decimal("five")
    assert to_decimal(5) == Decimal(5)
    assert to_decimal("5.50") == Decimal("5.50")


def test_float_money_is_not_written(db: peewee.SqliteDatabase) -> None:
    customer = Customer.create(id="C1", name="x")
    with pytest.raises(TypeError):
        Account.create(id="A1", customer=customer, kind="current", number="1",
                       balance=12.5, as_of=NOW)
    assert Account.select().count() == 0


def test_times_come_back_aware_utc_and_naive_is_refused(db: peewee.SqliteDatabase) -> None:
    belgrade_like = timezone(timedelta(hours=1))
    local = datetime(2026, 11, 27, 13, 0, 0, tzinfo=belgrade_like)
    customer = Customer.create(id="C1", name="x", updated_at=local)
    back = Customer.get_by_id(customer.id).updated_at
    assert back == local
    assert back.tzinfo == UTC
    assert back.hour == 12
    with pytest.raises(ValueError, match="naive"):
        Customer.create(id="C2", name="y", updated_at=datetime(2026, 1, 1))


def test_stored_times_sort_as_time_does() -> None:
    early = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    late_in_other_zone = datetime(2026, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=-3)))
    assert early < late_in_other_zone
    assert utc_text(early) < utc_text(late_in_other_zone)
    assert parse_utc_text(utc_text(late_in_other_zone)) == late_in_other_zone


def test_agreement_phone_is_unique(db: peewee.SqliteDatabase) -> None:
    customer, _ = _customer_with_account()
    _agreement(customer)
    with pytest.raises(peewee.IntegrityError):
        _agreement(customer, aid="AG2")
    agreement = Agreement.get_by_id("AG1")
    assert agreement.alert_limit == Decimal("500")
    assert agreement.active is True
    assert agreement.service_set() == frozenset({"balance", "topup", "alerts"})


def test_inbound_dedupe_key_is_unique(db: peewee.SqliteDatabase) -> None:
    _inbound("same")
    with pytest.raises(peewee.IntegrityError):
        _inbound("same")
    _inbound("other")
    assert InboundMessage.select().count() == 2


def test_outbox_dedupe_key_unique_but_null_allowed_many_times(db: peewee.SqliteDatabase) -> None:
    for _ in range(3):
        OutboxMessage.create(to="+38344123456", text="hi", kind="reply", created_at=NOW)
    OutboxMessage.create(to="+38344123456", text="alert", kind="alert", priority=20,
                         dedupe_key="alert:M1:+38344123456", created_at=NOW)
    with pytest.raises(peewee.IntegrityError):
        OutboxMessage.create(to="+38344123456", text="alert again", kind="alert", priority=20,
                             dedupe_key="alert:M1:+38344123456", created_at=NOW)
    assert OutboxMessage.select().count() == 4


def test_topup_idempotency_key_is_unique(db: peewee.SqliteDatabase) -> None:
    customer, _ = _customer_with_account()
    agreement = _agreement(customer)
    inbound = _inbound()
    fields = {"agreement": agreement, "inbound": inbound, "target": "+38344999888",
              "operator": "vala", "amount": Decimal("5.00"), "created_at": NOW,
              "updated_at": NOW}
    TopupOrder.create(idempotency_key="topup:1", **fields)
    with pytest.raises(peewee.IntegrityError):
        TopupOrder.create(idempotency_key="topup:1", **fields)
    order = TopupOrder.get(TopupOrder.idempotency_key == "topup:1")
    assert order.amount == Decimal("5.00")
    assert order.state == "pending"
    assert order.balance_after is None


def test_unknown_sender_reply_once_per_phone_and_day(db: peewee.SqliteDatabase) -> None:
    UnknownSenderReply.create(phone="+38344000001", day="2026-11-27", created_at=NOW)
    UnknownSenderReply.create(phone="+38344000001", day="2026-11-28", created_at=NOW)
    UnknownSenderReply.create(phone="+38344000002", day="2026-11-27", created_at=NOW)
    with pytest.raises(peewee.IntegrityError):
        UnknownSenderReply.create(phone="+38344000001", day="2026-11-27", created_at=NOW)


def test_check_constraints_reject_unknown_states(db: peewee.SqliteDatabase) -> None:
    with pytest.raises(peewee.IntegrityError):
        OutboxMessage.create(to="+1", text="x", kind="reply", state="lost", created_at=NOW)
    with pytest.raises(peewee.IntegrityError):
        OutboxMessage.create(to="+1", text="x", kind="spam", created_at=NOW)
    customer = Customer.create(id="C1", name="x")
    with pytest.raises(peewee.IntegrityError):
        Account.create(id="A1", customer=customer, kind="gold", number="1", balance=1,
                       as_of=NOW)
    with pytest.raises(peewee.IntegrityError):
        Agreement.create(id="AG1", customer=customer, phone="+1", language="de")


def test_foreign_keys_are_enforced(db: peewee.SqliteDatabase) -> None:
    with pytest.raises(peewee.IntegrityError):
        Account.create(id="A1", customer="nobody", kind="current", number="1", balance=1,
                       as_of=NOW)


def test_models_match_the_migrated_schema(db: peewee.SqliteDatabase) -> None:
    """Every model column exists in the migrated tables with the same nullability."""
    for model in ALL_MODELS:
        table = model._meta.table_name
        info = {c.name: c for c in db.get_columns(table)}  # either database's catalogue
        model_columns = {f.column_name: f for f in model._meta.sorted_fields}
        assert set(info) == set(model_columns), table
        for name, field in model_columns.items():
            not_null = not info[name].null or info[name].primary_key
            assert not_null == (not field.null), f"{table}.{name}"
