"""The fake bank's ledger: properties of its changes feed and its top-ups (no HTTP here;
the HTTP side is covered by test_bank_client and test_bank_contract)."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.fakebank import server as fake
from appliance.fakebank.ledger import FakeBankDB, FakeBankError
from appliance.fakebank.seed import DEMO_SEED_YAML
from appliance.fakebank.server import DEFAULT_SEED

ACCOUNTS = ("A1001", "A1002", "A2001", "A3002", "A4001", "A5001")
amounts = st.decimals(min_value=Decimal("-9999.99"), max_value=Decimal("9999.99"), places=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("move"), st.sampled_from(ACCOUNTS), amounts),
        st.tuples(st.just("topup"), st.sampled_from(("k-00000001", "k-00000002", "k-00000003")),
                  st.sampled_from(("G1001", "G4001", "G2001"))),
        st.tuples(st.just("rebind"), st.sampled_from(("G2001", "G3001")),
                  st.integers(min_value=100000, max_value=999999)),
    ),
    max_size=25,
)


def apply(db: FakeBankDB, op: tuple[Any, ...]) -> None:
    kind = op[0]
    try:
        if kind == "move":
            if op[2] != 0:
                db.book_movement(op[1], op[2], "transfer")
        elif kind == "topup":
            operator = "ipko_mobile" if op[2] == "G2001" else "vala"
            target = "+38349111222" if operator == "ipko_mobile" else "+38344111222"
            db.topup(op[1], {"agreement_id": op[2], "operator": operator, "amount": "5",
                             "target": target})
        else:
            db.rebind_phone(op[1], f"+38344{op[2]:06d}")
    except FakeBankError as exc:
        # The same key with another agreement (422), one number for two agreements (409).
        if exc.status not in (409, 422):
            raise


@settings(max_examples=40, deadline=None)
@given(ops=operations, page_size=st.integers(min_value=1, max_value=40))
def test_the_feed_gives_every_movement_once_with_running_balances(
    ops: list[tuple[Any, ...]], page_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = FakeBankDB(Path(tmp) / "fakebank.sqlite")
        try:
            db.seed_from_yaml(DEFAULT_SEED)
            for op in ops:
                apply(db, op)
            seen: list[dict[str, Any]] = []
            accounts: dict[str, dict[str, Any]] = {}
            agreements: dict[str, dict[str, Any]] = {}
            cursor: str | None = None
            while True:
                page = db.changes(cursor, page_size)
                assert cursor is None or int(page["cursor"]) > int(cursor) or not page["more"]
                seen.extend(page["movements"])
                accounts.update({a["id"]: a for a in page["accounts"]})
                agreements.update({a["id"]: a for a in page["agreements"]})
                cursor = page["cursor"]
                if not page["more"]:
                    break
            ids = [m["id"] for m in seen]
            assert len(ids) == len(set(ids))
            balances: dict[str, Decimal] = {}
            for m in seen:
                after = Decimal(m["balance_after"])
                if m["account_id"] in balances:
                    assert after == balances[m["account_id"]] + Decimal(m["amount"])
                balances[m["account_id"]] = after
            for account_id, account in accounts.items():
                assert Decimal(account["balance"]) == db.balance(account_id)
                if account_id in balances:
                    assert balances[account_id] == db.balance(account_id)
            phones = [a["phone"] for a in agreements.values()]
            assert len(phones) == len(set(phones))
            # Nothing after the end: an empty page keeps the cursor.
            tail = db.changes(cursor, page_size)
            assert (tail["cursor"], tail["more"], tail["movements"]) == (cursor, False, [])
        finally:
            db.close()


def test_a_restart_does_not_seed_again(tmp_path: Path) -> None:
    db = FakeBankDB(tmp_path / "fakebank.sqlite")
    db.seed_from_yaml(DEFAULT_SEED)
    moved = db.book_movement("A1001", Decimal("-1.00"), "card_payment")
    balance = db.balance("A1001")
    db.close()
    again = FakeBankDB(tmp_path / "fakebank.sqlite")
    assert again.is_seeded()
    assert again.balance("A1001") == balance
    assert moved in {m["id"] for m in again.changes(None, 5000)["movements"]}
    again.close()


def test_topup_debits_the_private_current_account_first(tmp_path: Path) -> None:
    db = FakeBankDB(tmp_path / "fakebank.sqlite")
    db.seed_from_yaml(DEFAULT_SEED)
    private, business = db.balance("A3001"), db.balance("A3002")
    outcome = db.topup("k-00000010", {"agreement_id": "G3001", "operator": "vala",
                                      "amount": "10.00", "target": "+38344111222"})
    assert outcome.body["status"] == "done"
    assert (db.balance("A3001"), db.balance("A3002")) == (private - 10, business)
    # The company has only a business current account: that one pays.
    company = db.balance("A5001")
    db.topup("k-00000011", {"agreement_id": "G5001", "operator": "vala", "amount": "3",
                            "target": "+38344111222"})
    assert db.balance("A5001") == company - 3
    db.close()


@pytest.mark.parametrize(("body", "reason"), [
    ({"agreement_id": "G9999", "operator": "vala", "amount": "5", "target": "+38344111222"},
     "unknown_agreement"),
    ({"agreement_id": "G6002", "operator": "vala", "amount": "5", "target": "+38344111222"},
     "agreement_inactive"),
    ({"agreement_id": "G5002", "operator": "vala", "amount": "5", "target": "+38344111222"},
     "service_not_enabled"),
    ({"agreement_id": "G1001", "operator": "vala", "amount": "0", "target": "+38344111222"},
     "invalid_amount"),
    ({"agreement_id": "G1001", "operator": "vala", "amount": "5", "target": "+38347111222"},
     "unknown_target"),
    ({"agreement_id": "G1001", "operator": "vala", "amount": "5", "target": "+38349111222"},
     "operator_mismatch"),
    ({"agreement_id": "G1001", "operator": "ipko_mobile", "amount": "5",
      "target": "+38349999002"}, "operator_mismatch"),  # ported from IPKO to Vala
    ({"agreement_id": "G1001", "operator": "vala", "amount": "5", "product": "tv",
      "subscriber_id": "x"}, "operator_mismatch"),  # the products are IPKO's
])
def test_rejection_reasons(tmp_path: Path, body: dict[str, str], reason: str) -> None:
    db = FakeBankDB(tmp_path / "fakebank.sqlite")
    db.seed_from_yaml(DEFAULT_SEED)
    outcome = db.topup("k-00000020", body)
    assert (outcome.body["status"], outcome.body.get("reason")) == ("rejected", reason)
    assert db.debit_count() == 0
    db.close()


def test_the_embedded_seed_is_config_demo_bank_yaml() -> None:
    assert DEFAULT_SEED.read_text(encoding="utf-8") == DEMO_SEED_YAML


def test_without_the_repository_config_the_embedded_seed_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An installed package has no config/ beside it.
    monkeypatch.setattr(fake, "DEFAULT_SEED", tmp_path / "absent.yaml")
    server = fake.FakeBankServer(tmp_path / "bank")
    try:
        assert server.seed_path is None
        assert server.db.balance("A4001") == Decimal("3.20")
    finally:
        server.close()


def test_a_ledger_from_before_the_new_columns_gains_them(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "fakebank.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL);"
        "CREATE TABLE agreements (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL,"
        " phone TEXT NOT NULL UNIQUE, services TEXT NOT NULL, alert_limit TEXT,"
        " language TEXT NOT NULL, active INTEGER NOT NULL);"
        "INSERT INTO customers VALUES ('C1', 'Old', 'private');"
        "INSERT INTO agreements VALUES ('G1', 'C1', '+38344000001', '[\"alerts\"]', NULL,"
        " 'sq', 1);"
    )
    old.commit()
    old.close()
    db = FakeBankDB(path)
    try:
        assert db.agreement("G1")["alerts_enabled"] is True
        assert db.agreement("G1")["sim_changed_at"] is None
        assert db.set_alerts("G1", False)["alerts_enabled"] is False
    finally:
        db.close()
