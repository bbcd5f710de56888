"""submit_pending against the fake bank over loopback, with a real SQLite file (I3)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from appliance.bank.client import BankClient
from appliance.core.rules import Rules
from appliance.daemon.adapters import BankPort
from appliance.fakebank.server import FakeBankServer
from appliance.flows.sync import sync_once
from appliance.flows.topups import reply_key
from appliance.store.db import open_database
from appliance.store.models import OutboxMessage, TopupOrder
from tests.helpers import submit_pending

ROOT = Path(__file__).resolve().parents[1]
RULES = Rules()
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.fixture
def db_path(store_target: str, bank: FakeBankServer) -> Iterator[str]:
    """The store on SQLite and on PostgreSQL (conftest's `store_target`)."""
    db = open_database(store_target)
    sync_once(client_for(bank), RULES, T0)  # agreements must exist locally
    yield store_target
    db.close()


def client_for(bank: FakeBankServer, **kw: object) -> BankPort:
    """The bank client as the top-up flow's port (the daemon's adapter)."""
    options: dict[str, object] = {"retries": 0, "backoff": 0.01, "read_timeout": 2.0}
    options.update(kw)
    return BankPort(BankClient(bank.url, bank.token_file, **options))  # type: ignore[arg-type]


def order(key: str, agreement: str = "G1001", target: str = "+38344111222",
          operator: str = "vala", amount: str = "5", **extra: object) -> TopupOrder:
    row: TopupOrder = TopupOrder.create(
        idempotency_key=key, agreement=agreement, target=target, operator=operator,
        amount=Decimal(amount), created_at=T0, updated_at=T0, **extra,
    )
    return row


def reload(row: TopupOrder) -> TopupOrder:
    fresh: TopupOrder = TopupOrder.get_by_id(row.id)
    return fresh


def replies(row: TopupOrder) -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(OutboxMessage.dedupe_key == reply_key(row.id)))


def test_done_order_gets_one_reply_with_the_new_balance(
    bank: FakeBankServer, db_path: Path
) -> None:
    o = order("sms-0001-aaaaaaaa")
    before = bank.db.balance("A1001")
    assert submit_pending(client_for(bank), RULES, T0) == 1
    o = reload(o)
    assert (o.state, o.reason, o.attempts) == ("done", None, 1)
    assert o.balance_after == before - 5 == bank.db.balance("A1001")
    assert o.bank_id
    [reply] = replies(o)
    assert (reply.to, reply.kind, reply.priority, reply.state) == (
        "+38344123456", "topup_result", 10, "queued")
    assert "044111222" in reply.text
    assert submit_pending(client_for(bank), RULES, T0) == 0  # nothing due any more
    assert len(replies(o)) == 1
    assert bank.db.debit_count() == 1


def test_rejections_are_replied_with_the_reason(bank: FakeBankServer, db_path: Path) -> None:
    poor = order("sms-0002-aaaaaaaa", agreement="G4001", target="+38343111222",
                 operator="ipko_mobile", amount="10")
    ported = order("sms-0003-aaaaaaaa", target="+38344999001")
    assert submit_pending(client_for(bank), RULES, T0) == 2
    assert (reload(poor).state, reload(poor).reason) == ("rejected", "insufficient_funds")
    assert (reload(ported).state, reload(ported).reason) == ("rejected", "operator_mismatch")
    poor_text = replies(poor)[0].text
    ported_text = replies(ported)[0].text
    assert poor_text != ported_text
    assert bank.db.debit_count() == 0


def test_product_order(bank: FakeBankServer, db_path: Path) -> None:
    o = order("sms-0004-aaaaaaaa", agreement="G3001", target="arben.k",
              operator="ipko_fixed", amount="20", product="internet", subscriber_id="arben.k")
    submit_pending(client_for(bank), RULES, T0)
    assert reload(o).state == "done"
    assert len(replies(o)) == 1
    assert bank.db.debit_count() == 1


def test_bank_down_holds_then_completes_with_the_same_key(
    bank: FakeBankServer, db_path: Path
) -> None:
    o = order("sms-0005-aaaaaaaa")
    bank.stop()
    client = client_for(bank)
    assert submit_pending(client, RULES, T0, hold_seconds=120, retry_after=10) == 0
    held = reload(o)
    assert held.state == "submitted"
    assert held.next_attempt_at == T0 + timedelta(seconds=10)
    assert replies(o) == []
    # Not due yet: nothing is tried.
    assert submit_pending(client, RULES, T0 + timedelta(seconds=5), hold_seconds=120) == 0
    assert reload(o).attempts == 1
    bank.start()
    assert submit_pending(client, RULES, T0 + timedelta(seconds=11), hold_seconds=120) == 1
    done = reload(o)
    assert (done.state, done.attempts) == ("done", 2)
    assert len(replies(o)) == 1
    assert bank.db.debit_count() == 1


def test_bank_down_past_the_hold_fails_with_a_try_later_reply(
    bank: FakeBankServer, db_path: Path
) -> None:
    o = order("sms-0006-aaaaaaaa")
    bank.set_fault("down")
    client = client_for(bank)
    assert submit_pending(client, RULES, T0, hold_seconds=60, retry_after=10) == 0
    assert submit_pending(client, RULES, T0 + timedelta(seconds=61), hold_seconds=60) == 1
    failed = reload(o)
    assert (failed.state, failed.reason) == ("failed", "bank_unavailable")
    [reply] = replies(failed)
    assert "vonë" in reply.text or "vone" in reply.text  # "provoni më vonë": try later
    assert bank.db.debit_count() == 0


def test_no_hold_fails_at_once(bank: FakeBankServer, db_path: Path) -> None:
    o = order("sms-0007-aaaaaaaa")
    bank.set_fault("error500")
    assert submit_pending(client_for(bank), RULES, T0) == 1
    assert reload(o).state == "failed"
    assert len(replies(o)) == 1


def test_timeout_after_debit_then_retry_debits_once(bank: FakeBankServer, db_path: Path) -> None:
    o = order("sms-0008-aaaaaaaa")
    bank.set_fault("timeout_after_debit", count=1, delay=5.0)
    client = client_for(bank, read_timeout=0.3)
    assert submit_pending(client, RULES, T0, hold_seconds=300, retry_after=1) == 0
    assert reload(o).state == "submitted"
    assert bank.db.debit_count("sms-0008-aaaaaaaa") == 1  # the bank did debit
    assert submit_pending(client, RULES, T0 + timedelta(seconds=2), hold_seconds=300) == 1
    assert reload(o).state == "done"
    assert bank.db.debit_count() == 1
    assert bank.db.topup_movement_count("A1001") == 1
    assert len(replies(o)) == 1


def test_a_key_reused_with_another_body_fails_loudly(bank: FakeBankServer, db_path: Path) -> None:
    client = client_for(bank)
    client.topup("sms-0009-aaaaaaaa", "+38344111222", "vala", Decimal(10), agreement_id="G1001")
    o = order("sms-0009-aaaaaaaa", amount="5")
    assert submit_pending(client, RULES, T0) == 1
    assert (reload(o).state, reload(o).reason) == ("failed", "bank_idempotency_key_reused")
    assert bank.db.debit_count() == 1


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from appliance.bank.client import BankClient
    from appliance.core.rules import Rules
    from appliance.daemon.adapters import BankPort
    from appliance.flows import topups
    from appliance.store.db import open_database

    db_path, url, token_file, when = sys.argv[1:5]

    class DyingClient(BankClient):
        def topup(self, *args, **kwargs):
            if when == "before_call":
                os.kill(os.getpid(), signal.SIGKILL)
            answer = super().topup(*args, **kwargs)
            # The bank has debited and answered; we die before committing the outcome.
            os.kill(os.getpid(), signal.SIGKILL)
            return answer

    open_database(db_path)
    topups.submit_pending(BankPort(DyingClient(url, Path(token_file))), Rules(),
                          datetime.now(UTC), max_attempts=5, retry_after=15.0, retry_max=300.0)
""")


@pytest.mark.parametrize("when", ["after_answer", "before_call"])
def test_process_killed_around_the_bank_call_debits_once_and_replies_once(
    bank: FakeBankServer, db_path: Path, when: str
) -> None:
    o = order("sms-0010-aaaaaaaa")
    before = bank.db.balance("A1001")
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(db_path), bank.url, str(bank.token_file), when],
        cwd=ROOT, capture_output=True, timeout=60, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    crashed = reload(o)
    assert crashed.state == "submitted"  # the claim was committed, the outcome was not
    assert replies(o) == []
    assert bank.db.debit_count() == (1 if when == "after_answer" else 0)
    # Restart: the order is due again and completes with the same key.
    assert submit_pending(client_for(bank), RULES, datetime.now(UTC)) == 1
    done = reload(o)
    assert done.state == "done"
    assert done.attempts == 2
    assert bank.db.debit_count() == 1
    assert bank.db.topup_movement_count("A1001") == 1
    assert bank.db.balance("A1001") == before - 5
    assert len(replies(o)) == 1
    assert submit_pending(client_for(bank), RULES, datetime.now(UTC)) == 0
    assert len(replies(o)) == 1


def test_failed_after_a_silent_debit_is_resolved_as_done(
    bank: FakeBankServer, db_path: Path
) -> None:
    o = order("sms-0020-aaaaaaaa")
    bank.set_fault("timeout_after_debit", count=1, delay=5.0)
    client = client_for(bank, read_timeout=0.3)
    assert submit_pending(client, RULES, T0, retry_after=30) == 1
    failed = reload(o)
    assert (failed.state, failed.reason) == ("failed", "bank_unavailable")
    assert bank.db.debit_count() == 1  # the customer was told "try later", yet was debited
    assert len(replies(o)) == 1
    # Not resolved in the same breath, but on a later run once it is due.
    assert submit_pending(client, RULES, T0 + timedelta(seconds=29)) == 0
    assert submit_pending(client, RULES, T0 + timedelta(seconds=31)) == 1
    done = reload(o)
    assert (done.state, done.reason) == ("done", None)
    assert done.balance_after == bank.db.balance("A1001")
    late = list(OutboxMessage.select().where(OutboxMessage.dedupe_key == f"topup:{o.id}:late"))
    assert len(late) == 1
    assert "044111222" in late[0].text
    assert bank.db.debit_count() == 1
    assert submit_pending(client, RULES, T0 + timedelta(minutes=5)) == 0  # resolved for good


def test_failed_never_received_is_fenced_and_moves_no_money(
    bank: FakeBankServer, db_path: Path
) -> None:
    o = order("sms-0021-aaaaaaaa")
    bank.stop()
    client = client_for(bank)
    assert submit_pending(client, RULES, T0, retry_after=30) == 1
    assert reload(o).state == "failed"
    # Still down when it is due: it waits longer, nothing changes.
    assert submit_pending(client, RULES, T0 + timedelta(seconds=31), retry_after=30) == 0
    waiting = reload(o)
    assert (waiting.state, waiting.reason, waiting.attempts) == (
        "failed", "bank_unavailable", 2)
    assert waiting.next_attempt_at == T0 + timedelta(seconds=31 + 60)
    bank.start()
    assert submit_pending(client, RULES, T0 + timedelta(seconds=100)) == 0
    settled = reload(o)
    assert (settled.state, settled.reason) == ("failed", "bank_unavailable:not_received")
    # A copy of the original request arriving late can no longer debit.
    late = client.topup("sms-0021-aaaaaaaa", "+38344111222", "vala", Decimal(5),
                        agreement_id="G1001")
    assert (late.status, late.reason) == ("rejected", "not_received")
    assert bank.db.debit_count() == 0
    assert len(replies(o)) == 1


def test_an_unreachable_bank_costs_one_round_of_retries_per_run(
    bank: FakeBankServer, db_path: Path
) -> None:
    orders = [order(f"sms-003{i}-aaaaaaaa") for i in range(4)]
    bank.set_fault("down")
    before = len(bank.app.seen)
    client = client_for(bank, retries=2)
    assert submit_pending(client, RULES, T0, hold_seconds=60, retry_after=10) == 0
    assert len(bank.app.seen) - before == 3  # one order's three tries, not twelve
    states = [(reload(o).state, reload(o).next_attempt_at) for o in orders]
    assert states[0] == ("submitted", T0 + timedelta(seconds=10))
    assert all(when == T0 + timedelta(seconds=10) for _state, when in states)
    bank.set_fault("none")
    assert submit_pending(client, RULES, T0 + timedelta(seconds=10), hold_seconds=60) == 4
    assert {reload(o).state for o in orders} == {"done"}
    assert bank.db.debit_count() == 4
    # Without a hold they are refused at once, each with its reply.
    more = [order(f"sms-004{i}-aaaaaaaa") for i in range(3)]
    bank.set_fault("down")
    assert submit_pending(client, RULES, T0 + timedelta(seconds=20)) == 3
    assert {reload(o).state for o in more} == {"failed"}
    assert all(len(replies(o)) == 1 for o in more)
