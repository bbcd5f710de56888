"""Money that a forged SMS cannot move (DESIGN §2 I9, §4), through the real parts: the fake
modem on a pty, the fake bank over HTTP, the daemon's SQLite file."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appliance.store.models import TopupConfirmation, TopupOrder
from tests.conftest import STORES, Box, DaemonProc, Fakes
from tests.helpers import db_rows, wait_for

ARBEN = "+38344123456"  # Vala, Albanian
CODES = {"rules": {"confirm_from": 25}}
ASK = "044 111 222 40"  # 40 EUR to a Vala number: needs a code


def _code_in(reply: str) -> str:
    m = re.search(r"kodin (\d{4})", reply)
    assert m, reply
    return m.group(1)


def _replies(fakes: Fakes, phone: str, n: int) -> list[str]:
    return fakes.wait_replies(phone, n, timeout=20)


def test_a_large_topup_without_the_code_moves_nothing(make_box: Callable[..., Box]) -> None:
    box = make_box(**CODES)
    debits = box.bank.db.debit_count()
    box.deliver(ARBEN, ASK)
    (reply,) = _replies(box.fakes, ARBEN, 1)
    code = _code_in(reply)
    assert 1000 <= int(code) <= 9999
    assert "40,00 EUR" in reply
    assert "044" in reply
    row = wait_for(TopupConfirmation.get_or_none, timeout=5, what="the pending one")
    assert row.state == "awaiting_code"
    assert code not in (row.code_digest + row.code_salt)
    assert TopupOrder.select().count() == 0
    box.deliver(ARBEN, "B")  # a later message is answered; the top-up still waits
    _replies(box.fakes, ARBEN, 2)
    assert box.bank.db.debit_count() == debits
    assert code not in box.log_file.read_text(encoding="utf-8")  # never logged


def test_the_right_code_places_the_order_once(make_box: Callable[..., Box]) -> None:
    box = make_box(**CODES)
    debits = box.bank.db.debit_count()
    box.deliver(ARBEN, ASK)
    code = _code_in(_replies(box.fakes, ARBEN, 1)[0])
    box.deliver(ARBEN, code)
    done = _replies(box.fakes, ARBEN, 2)[1]
    assert "40,00 EUR" in done, done
    assert box.bank.db.debit_count() == debits + 1
    box.deliver(ARBEN, f" {code}")  # single use: the same code again is just an amount
    _replies(box.fakes, ARBEN, 3)
    assert box.bank.db.debit_count() == debits + 1
    assert TopupOrder.select().count() == 1


def test_three_wrong_codes_cancel(make_box: Callable[..., Box]) -> None:
    box = make_box(**CODES)
    debits = box.bank.db.debit_count()
    box.deliver(ARBEN, ASK)
    code = _code_in(_replies(box.fakes, ARBEN, 1)[0])
    wrong = [c for c in ("1000", "1001", "1002", "1003") if c != code][:3]
    for n, attempt in zip((2, 3, 4), wrong, strict=True):
        box.deliver(ARBEN, attempt)
        _replies(box.fakes, ARBEN, n)
    replies = box.sent_to(ARBEN)
    assert "nuk eshte i sakte" in replies[1]
    assert "nuk eshte i sakte" in replies[2]
    assert "anulua" in replies[3], replies[3]
    box.deliver(ARBEN, f" {code}")  # the right code after the cancel places nothing
    _replies(box.fakes, ARBEN, 5)
    assert box.bank.db.debit_count() == debits
    assert TopupOrder.select().count() == 0
    assert TopupConfirmation.get().state == "cancelled"


def test_an_expired_code_moves_nothing(make_box: Callable[..., Box]) -> None:
    box = make_box(rules={"confirm_from": 25, "confirm_seconds": 1})
    debits = box.bank.db.debit_count()
    box.deliver(ARBEN, ASK)
    code = _code_in(_replies(box.fakes, ARBEN, 1)[0])
    expires = TopupConfirmation.get().expires_at
    wait_for(lambda: datetime.now(UTC) > expires + timedelta(milliseconds=100), timeout=5,
             what="the code to expire")
    box.deliver(ARBEN, code)
    late = _replies(box.fakes, ARBEN, 2)[1]
    assert "kaluar" in late, late
    assert box.bank.db.debit_count() == debits
    assert TopupOrder.select().count() == 0
    assert TopupConfirmation.get().state == "expired"


def test_a_new_request_replaces_the_pending_one(make_box: Callable[..., Box]) -> None:
    box = make_box(**CODES)
    box.deliver(ARBEN, ASK)
    first = _code_in(_replies(box.fakes, ARBEN, 1)[0])
    box.deliver(ARBEN, "049 111 222 30")
    second = _code_in(_replies(box.fakes, ARBEN, 2)[1])
    if first != second:
        box.deliver(ARBEN, first)  # the replaced request's code places nothing
        _replies(box.fakes, ARBEN, 3)
        assert TopupOrder.select().count() == 0
    box.deliver(ARBEN, second)
    wait_for(lambda: TopupOrder.get_or_none(TopupOrder.state == "done"), timeout=20,
             what="the replacing top-up done")
    (order,) = TopupOrder.select()
    assert order.amount == 30


def test_a_small_request_replaces_a_waiting_one_too(make_box: Callable[..., Box]) -> None:
    box = make_box(**CODES)
    box.deliver(ARBEN, ASK)
    code = _code_in(_replies(box.fakes, ARBEN, 1)[0])
    box.deliver(ARBEN, "044 111 222 5")  # below confirm_from: ordered at once
    wait_for(lambda: TopupOrder.get_or_none(TopupOrder.state == "done"), timeout=20,
             what="the small top-up done")
    assert TopupConfirmation.get().state == "replaced"
    box.deliver(ARBEN, code)  # the replaced request's code places nothing
    _replies(box.fakes, ARBEN, 3)
    assert [o.amount for o in TopupOrder.select()] == [5]



@pytest.mark.parametrize("store_kind", STORES, indirect=True)  # money across a kill: both
def test_the_right_code_debits_once_across_a_kill(fakes: Fakes,
                                                   daemon_proc: DaemonProc) -> None:
    fakes.config(**CODES)
    debits = fakes.bank.db.debit_count()
    daemon_proc.start()
    fakes.deliver(ARBEN, ASK)
    code = _code_in(_replies(fakes, ARBEN, 1)[0])
    assert daemon_proc.stop() == 0
    fakes.deliver(ARBEN, code)
    # Killed right after the code's decision committed: the order is pending, not sent.
    daemon_proc.start(crash_at="after_decide")
    assert daemon_proc.wait_exit(timeout=30) == -signal.SIGKILL
    db = fakes.store
    assert db_rows(db, "SELECT state FROM topup_confirmation") == [("confirmed",)]
    daemon_proc.start()
    wait_for(lambda: db_rows(db, "SELECT state FROM topup_order") == [("done",)], timeout=30,
             what="the confirmed order done")
    _replies(fakes, ARBEN, 2)
    assert daemon_proc.stop() == 0
    assert fakes.bank.db.debit_count() == debits + 1
    assert len(fakes.sent_to(ARBEN)) == 2


# --- trusted service centres (smsc_allow) ------------------------------------------------
HOME_SMSC = "+38344000100"  # the fake modem's own service centre
FOREIGN_SMSC = "+447700900123"


def _via(box: Box, smsc: str, text: str, when: datetime) -> None:
    from appliance.fakemodem.pdu import encode_deliver

    box.modem.deliver_pdu(encode_deliver(ARBEN, text, when, smsc=smsc))


def test_an_untrusted_service_centre_moves_no_money_but_balances_work(
        make_box: Callable[..., Box]) -> None:
    box = make_box(modem={"smsc_allow": [HOME_SMSC]})
    debits = box.bank.db.debit_count()
    now = datetime.now(UTC).replace(microsecond=0)
    _via(box, FOREIGN_SMSC, "044 111 222 5", now)
    refused = _replies(box.fakes, ARBEN, 1)[0]
    assert "nuk u be" in refused, refused
    _via(box, FOREIGN_SMSC, "B", now + timedelta(seconds=1))
    balance = _replies(box.fakes, ARBEN, 2)[1]
    assert "***2345" in balance
    assert box.bank.db.debit_count() == debits
    assert TopupOrder.select().count() == 0
    log = box.log_file.read_text(encoding="utf-8")
    assert "untrusted service centre" in log
    assert FOREIGN_SMSC not in log  # masked
    _via(box, HOME_SMSC, "044 111 222 5", now + timedelta(seconds=2))  # the trusted one
    wait_for(lambda: TopupOrder.get_or_none(TopupOrder.state == "done"), timeout=20,
             what="the top-up through the home SMSC done")
    assert box.bank.db.debit_count() == debits + 1


def test_a_code_through_an_untrusted_service_centre_places_nothing(
        make_box: Callable[..., Box]) -> None:
    box = make_box(modem={"smsc_allow": [HOME_SMSC]}, **CODES)
    box.deliver(ARBEN, ASK)  # the fake modem's own (trusted) service centre
    code = _code_in(_replies(box.fakes, ARBEN, 1)[0])
    _via(box, FOREIGN_SMSC, code, datetime.now(UTC))
    assert "nuk u be" in _replies(box.fakes, ARBEN, 2)[1]
    assert TopupOrder.select().count() == 0
    assert TopupConfirmation.get().state == "awaiting_code"


# --- SIM-swap hold -------------------------------------------------------------------------
def test_a_swapped_sim_moves_no_money_for_the_hold(fakes: Fakes,
                                                  make_box: Callable[..., Box]) -> None:
    fakes.bank.sim_swap(ARBEN, at=datetime.now(UTC) - timedelta(hours=71))
    box = make_box()
    debits = box.bank.db.debit_count()
    box.deliver(ARBEN, "044 111 222 5")
    refused = _replies(box.fakes, ARBEN, 1)[0]
    assert "deg" in refused, refused  # sends the customer to a branch
    assert "72" in refused
    box.deliver(ARBEN, "B")
    assert "***2345" in _replies(box.fakes, ARBEN, 2)[1]
    assert box.bank.db.debit_count() == debits
    assert TopupOrder.select().count() == 0
    assert "SIM changed recently" in box.log_file.read_text(encoding="utf-8")
    assert _status(box)["guards"]["sim_hold_agreements"] == 1


def test_a_sim_swapped_long_enough_ago_moves_money_again(fakes: Fakes,
                                                       make_box: Callable[..., Box]) -> None:
    fakes.bank.sim_swap(ARBEN, at=datetime.now(UTC) - timedelta(hours=73))
    box = make_box()
    debits = box.bank.db.debit_count()
    box.deliver(ARBEN, "044 111 222 5")
    wait_for(lambda: TopupOrder.get_or_none(TopupOrder.state == "done"), timeout=20,
             what="the top-up done after the hold")
    assert box.bank.db.debit_count() == debits + 1


# --- per-sender rate limit -----------------------------------------------------------------
FLOODER = "+38345345678"  # Besnik
DRITA = "+38349234567"


def test_a_flood_from_one_phone_is_answered_once_and_delays_nobody(box: Box) -> None:
    from appliance.store.models import InboundMessage

    flood = 200
    for i in range(flood):
        box.deliver(FLOODER, f"x{i}")
        if i == flood // 2:
            asked = datetime.now(UTC)
            box.deliver(DRITA, "B")
    # Another customer's B, sent in the middle of the flood, is answered promptly.
    (balance,) = box.wait_replies(DRITA, 1, timeout=15)
    assert "***3456" in balance
    assert datetime.now(UTC) - asked < timedelta(seconds=15)
    # Every message is stored and decided, none lost; few are answered.
    wait_for(lambda: InboundMessage.select().where(
        (InboundMessage.sender == FLOODER) & (InboundMessage.state == "handled")).count()
        == flood, timeout=120, what="every flood message decided")
    rows = list(InboundMessage.select().where(InboundMessage.sender == FLOODER)
                .order_by(InboundMessage.id))
    minutes = {r.received_at.replace(second=0, microsecond=0) for r in rows}
    hours = {m.replace(minute=0) for m in minutes}
    noticed = [r for r in rows if r.outcome == "rate_limited:noticed"]
    # one notice per window at most; once over the hour's limit, none but the hour's (a
    # flood across 03:51-03:52 got three notices when the minute's went first)
    assert 1 <= len(noticed) <= len(hours) + len(minutes)
    def hour(r: InboundMessage) -> datetime:
        return r.received_at.replace(minute=0, second=0, microsecond=0)

    over_hour = [r for r in rows[60:] if hour(r) == hour(rows[0])]  # past per_hour = 60
    assert sum(1 for r in over_hour if r.outcome == "rate_limited:noticed") <= 1
    answered = [r for r in rows if not str(r.outcome).startswith("rate_limited")]
    assert len(answered) <= 10 * len(minutes)
    wait_for(lambda: len(box.sent_to(FLOODER)) >= len(answered) + len(noticed), timeout=30,
             what="the flood's few replies sent")
    assert len(box.sent_to(FLOODER)) == len(answered) + len(noticed)
    assert any("too many" in t or "shume mesazhe" in t for t in box.sent_to(FLOODER))
    assert _status(box)["guards"]["rate_limited_today"] == flood - len(answered)


def _status(box: Box) -> dict[str, Any]:
    """`appliance status --json` in its own process, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-c", "from appliance.cli import main; main()", "status", "--config",
         str(box.tmp / "appliance.toml"), "--json"],
        capture_output=True, text=True, timeout=60, check=False)  # exit 1: a warning
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_a_strangers_flood_buys_no_more_than_the_daily_refusal(box: Box) -> None:
    from appliance.store.models import InboundMessage
    from tests.conftest import UNKNOWN_PHONE

    for i in range(30):
        box.deliver(UNKNOWN_PHONE, f"B{i}")
    wait_for(lambda: InboundMessage.select().where(
        (InboundMessage.sender == UNKNOWN_PHONE) & (InboundMessage.state == "handled")).count()
        == 30, timeout=60, what="every message decided")
    box.deliver(ARBEN, "B")  # a later customer's reply: the stranger's are all out by then
    box.wait_replies(ARBEN, 1)
    assert len(box.sent_to(UNKNOWN_PHONE)) == 1  # the one refusal a day, no rate notice
