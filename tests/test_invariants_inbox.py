"""Invariants 1-3 at the seams the other tests leave open (found by mutation testing).

- A genuine second `B` a minute later is a new message (dedupe is on the PDU with its
  service-centre time, never on the text): real daemon, fake modem on a pty whose clock
  the test moves on.
- A decision that fails half-way leaves no trace but its "set aside" mark (I2: the
  savepoint around each message): real SQLite file, a real SQLite trigger makes the failure.
- A box restored from a backup taken before a top-up was decided decides it again with the
  same idempotency key, so the bank moves the money once (I3): real fake bank over HTTP.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from appliance.bank.client import BankClient
from appliance.core.rules import Rules
from appliance.daemon.adapters import BankPort
from appliance.fakebank.server import FakeBankServer
from appliance.flows.inbound import Inbox, InboxPolicy
from appliance.flows.sync import sync_once
from appliance.store import queries
from appliance.store.db import open_database
from appliance.store.models import InboundMessage, OutboxMessage, TopupOrder, UnknownSenderReply
from tests.conftest import Fakes, _stop_box, assert_logs_masked, start_box
from tests.helpers import submit_pending

RULES = Rules()
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ARBEN = "+38344123456"  # the fake bank's seed: agreement G1001, Vala, current A1001
STRANGER = "+38344700701"
OTHER_STRANGER = "+38344700702"


def _policy() -> InboxPolicy:
    return InboxPolicy(rules=RULES, multipart_timeout=timedelta(seconds=60))


# --- a genuine second B a minute later is answered again -----------------------------


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked_fakes(tmp_path: Path) -> Iterator[tuple[Fakes, _Clock]]:
    """`fakes`, but the fake modem stamps messages (SCTS) with a clock the test controls."""
    from appliance.fakemodem.server import FakeModemServer

    clock = _Clock(datetime.now(UTC).replace(microsecond=0))
    bank = FakeBankServer(tmp_path / "bank").start()
    modem = FakeModemServer(tmp_path / "modem", tmp_path / "fm", clock=clock)
    modem.start()
    try:
        yield Fakes(tmp_path, bank, modem, tmp_path / "fm", tmp_path / "modem"), clock
    finally:
        modem.stop()
        bank.close()


def test_the_same_b_a_minute_later_is_a_new_message_and_answered_again(
        clocked_fakes: tuple[Fakes, _Clock]) -> None:
    fakes, clock = clocked_fakes
    box = start_box(fakes)
    try:
        fakes.deliver(ARBEN, "B")
        first = fakes.wait_replies(ARBEN, 1)
        clock.now += timedelta(minutes=1)
        fakes.deliver(ARBEN, "B")  # same sender, same text, another service-centre time
        both = fakes.wait_replies(ARBEN, 2)
        assert both[0] == first[0]
        assert "***2345" in both[1]
        rows = list(InboundMessage.select().where(InboundMessage.sender == ARBEN))
        assert len(rows) == 2
        assert len({r.dedupe_key for r in rows}) == 2
        assert {r.state for r in rows} == {"handled"}
    finally:
        _stop_box(box)
    assert_logs_masked(box.log_file)


# --- a decision failing half-way leaves no trace (I2) ----------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "appliance.sqlite"
    database = open_database(path)
    yield path
    database.close()


def _store(sender: str, text: str, at: datetime, pdu: str) -> InboundMessage:
    row, created = queries.store_inbound(modem="m1", pdu=pdu, sender=sender, smsc_time=at,
                                         received_at=at, text=text)
    assert created
    return row


def test_a_decision_failing_after_its_first_write_is_rolled_back_whole(db: Path) -> None:
    # The stranger's refusal cannot be queued (a real SQLite trigger refuses the row) after
    # the inbox has already claimed today's refusal and marked the message handled: none
    # of that may stay, or the stranger would be silenced without ever being refused.
    bad = _store(STRANGER, "B", T0, "AA01")
    good = _store(OTHER_STRANGER, "B", T0, "AA02")
    con = sqlite3.connect(db)
    con.execute(f"""CREATE TRIGGER refuse_reply BEFORE INSERT ON outbox_message
                    WHEN NEW."to" = '{STRANGER}' BEGIN SELECT RAISE(ABORT, 'disk says no'); END""")
    con.commit()
    inbox = Inbox(_policy(), clock=lambda: T0)
    result = inbox.process()
    assert result.decided == 1  # the other message is not held up
    assert InboundMessage.get_by_id(good.id).state == "handled"
    assert [r.to for r in OutboxMessage.select()] == [OTHER_STRANGER]
    failed = InboundMessage.get_by_id(bad.id)
    assert (failed.state, failed.outcome) == ("ignored", "error")
    # Nothing of the failed decision was committed: no refusal claimed for today.
    assert not UnknownSenderReply.select().where(UnknownSenderReply.phone == STRANGER).exists()

    # Once the failure is gone, the stranger's next message gets its one refusal of the day.
    con.execute("DROP TRIGGER refuse_reply")
    con.commit()
    con.close()
    _store(STRANGER, "B", T0 + timedelta(minutes=1), "AA03")
    assert inbox.process().decided == 1
    assert [r.to for r in OutboxMessage.select().order_by(OutboxMessage.id)] == [
        OTHER_STRANGER, STRANGER]


def test_a_decider_that_loses_the_race_leaves_the_winners_answer(db: Path) -> None:
    # Two deciders on one database (two processes, or an operator's tool beside the
    # daemon): B lists the pending message, A decides it, then B tries from its stale
    # list. A's answer must stand: one reply, state handled, not "set aside as an error".
    row = _store(STRANGER, "B", T0, "AA04")
    a = Inbox(_policy(), clock=lambda: T0)
    calls: list[int] = []

    def b_clock() -> datetime:
        if not calls:  # B has its list of pending messages; A wins the race now
            calls.append(1)
            a.process()
        return T0

    Inbox(_policy(), clock=b_clock).process()
    decided = InboundMessage.get_by_id(row.id)
    assert OutboxMessage.select().count() == 1
    assert (decided.state, decided.outcome) == ("handled", "stranger_refused")


# --- a restored backup re-decides a top-up with the same key (I3) ----------------------


def _backup(src: Path, dest: Path) -> None:
    s, d = sqlite3.connect(src), sqlite3.connect(dest)
    try:
        s.backup(d)
    finally:
        s.close()
        d.close()


def test_a_topup_decided_again_after_a_restore_moves_money_once(tmp_path: Path) -> None:
    bank = FakeBankServer(tmp_path / "bank").start()
    path = tmp_path / "appliance.sqlite"
    copy = tmp_path / "backup.sqlite"
    try:
        client = BankPort(BankClient(bank.url, bank.token_file, retries=0, backoff=0.01,
                                     read_timeout=2.0))
        database = open_database(path)
        sync_once(client, RULES, T0)
        before = bank.db.balance("A1001")
        _store(ARBEN, "044111222 5", T0, "BB01")  # stored, not yet decided
        _backup(path, copy)  # the nightly backup catches it here

        inbox = Inbox(_policy(), clock=lambda: T0)
        assert inbox.process().orders == 1
        assert submit_pending(client, RULES, T0) == 1
        [first] = list(TopupOrder.select())
        assert first.state == "done"
        assert bank.db.balance("A1001") == before - Decimal(5)

        # The box dies; the operator restores last night's backup; the message is decided
        # again and its order goes to the bank a second time.
        database.close()
        for side in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            side.unlink(missing_ok=True)
        copy.rename(path)
        database = open_database(path)
        assert not TopupOrder.select().exists()
        assert inbox.process().orders == 1
        submit_pending(client, RULES, T0 + timedelta(minutes=1))
        [again] = list(TopupOrder.select())
        assert again.idempotency_key == first.idempotency_key
        assert again.state == "done"
        assert bank.db.balance("A1001") == before - Decimal(5), "the money moved twice"
        database.close()
    finally:
        bank.close()

