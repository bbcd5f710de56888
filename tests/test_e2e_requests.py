"""End to end: STOP/START, SQ/EN/SR, BLLOKO and the statement through the fake modem's pty,
checked against the fake bank's own state (real HTTP, a real SQLite file); crashes of the
daemon subprocess around the bank call; the bank down, then up again."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from appliance.store.models import Agreement, BankRequest, OutboxMessage
from tests.conftest import STORES, Box, DaemonProc, Fakes
from tests.helpers import db_rows, wait_for
from tests.test_e2e_commands import ARBEN, ask

AGREEMENT = "G1001"  # Arben's agreement at the fake bank
CARD = "K1001"  # Arben's ***4821
OVER_LIMIT = Decimal("-700.00")  # Arben's alert limit is 500 EUR


def _alerts_for(movement: str) -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(
        (OutboxMessage.kind == "alert") & OutboxMessage.dedupe_key.startswith(
            f"alert:{movement}:")))


@pytest.mark.parametrize("lang", ["sq", "en", "sr"])
def test_each_command_in_each_language_changes_the_bank(box: Box, lang: str) -> None:
    bank = box.bank.db
    sent: dict[str, list[str]] = {}
    sent[lang.upper()] = ask(box, ARBEN, lang.upper())  # SQ too: Arben's is sq already
    assert bank.agreement(AGREEMENT)["language"] == lang
    sent["MINI"] = ask(box, ARBEN, "MINI")
    assert "***2345" in sent["MINI"][0]
    assert "600" in sent["MINI"][0]  # the newest movement: -600,00 transfer out
    # The statement may take two SMS: the second must be out before STOP's reply is
    # counted, or it is taken for that reply (the bank not yet changed).
    wait_for(lambda: not OutboxMessage.select().where(
        (OutboxMessage.to == ARBEN) & OutboxMessage.state.in_(("queued", "sending"))).exists(),
        what="the whole statement sent")

    sent["STOP"] = ask(box, ARBEN, "STOP")
    assert bank.agreement(AGREEMENT)["alerts_enabled"] is False
    while_off = box.bank.book_movement("A1001", OVER_LIMIT, "card_payment")
    box.daemon.sync_bank()
    assert box.daemon.last_sync_error is None
    assert _alerts_for(while_off) == []

    sent["START"] = ask(box, ARBEN, "START")
    assert bank.agreement(AGREEMENT)["alerts_enabled"] is True
    box.daemon.sync_bank()
    assert _alerts_for(while_off) == []  # booked while off: never alerted
    after_on = box.bank.book_movement("A1001", OVER_LIMIT, "card_payment")
    box.daemon.sync_bank()
    (alert,) = wait_for(lambda: _alerts_for(after_on), what="the alert after START")
    wait_for(lambda: alert.text in box.sent_to(ARBEN), what="the alert sent")

    sent["BLLOKO 4821"] = ask(box, ARBEN, "BLLOKO 4821")
    assert "4821" in sent["BLLOKO 4821"][0]
    assert bank.card_status(CARD) == "blocked"
    assert bank.card_changes(CARD) == 2
    sent["BLLOKO 9999"] = ask(box, ARBEN, "BLLOKO 9999")  # no such card of Arben's
    sent["BLLOKO 5502"] = ask(box, ARBEN, "BLLOKO 5502")  # Drita's card: the same answer
    assert sent["BLLOKO 9999"] == [sent["BLLOKO 5502"][0].replace("5502", "9999")]
    assert box.bank.db.card_status("K2001") == "active"
    sent["NDIHME"] = ask(box, ARBEN, "NDIHME")
    assert [r.state for r in BankRequest.select()] == ["done"] * BankRequest.select().count()
    out = box.tmp.parent / f"replies-{lang}.json"
    out.write_text(json.dumps(sent, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({lang: sent}, ensure_ascii=False, indent=1))



@pytest.mark.parametrize("store_kind", STORES, indirect=True)  # once across a kill: both
@pytest.mark.parametrize("point", ["request_before_bank", "request_after_bank"])
def test_kill_around_the_bank_call_blocks_once_and_answers_once(
        fakes: Fakes, daemon_proc: DaemonProc, point: str) -> None:
    fakes.config()
    fakes.deliver(ARBEN, "BLLOKO 4821")
    daemon_proc.start(crash_at=point)
    assert daemon_proc.wait_exit(timeout=30) == -signal.SIGKILL
    assert f"crash point {point} reached" in daemon_proc.log_file.read_text(encoding="utf-8")
    expected = 2 if point == "request_after_bank" else 1  # the bank blocked it, or not yet
    assert fakes.bank.db.card_changes(CARD) == expected
    daemon_proc.start()
    wait_for(lambda: fakes.sent_to(ARBEN), timeout=30, what="the answer after the restart")
    db = fakes.store
    wait_for(lambda: db_rows(db, "SELECT state FROM bank_request") == [("done",)], timeout=10,
             what="the request done")
    assert daemon_proc.stop() == 0
    (reply,) = fakes.sent_to(ARBEN)
    assert "4821" in reply
    assert fakes.bank.db.card_status(CARD) == "blocked"
    assert fakes.bank.db.card_changes(CARD) == 2


def test_bank_down_then_up_the_request_is_made_and_the_customer_told(make_box: object) -> None:
    b: Box = make_box(bank={"topup_backoff_initial": 0.2, "topup_backoff_max": 0.5,  # type: ignore[operator]
                            "topup_interval": 0.3, "retries": 0})
    b.bank.set_fault("down")
    b.daemon.sync_bank()
    assert b.daemon.last_sync_error is not None
    (pending,) = ask(b, ARBEN, "BLLOKO 4821")  # the core's "will be done when the bank is back"
    wait_for(lambda: BankRequest.get().attempts >= 2, timeout=15, what="retries while down")
    assert b.bank.db.card_status(CARD) == "active"
    b.bank.set_fault("none")
    (done,) = wait_for(lambda: [t for t in b.sent_to(ARBEN) if t != pending] or None,
                       timeout=20, what="the outcome once the bank is back")
    assert "4821" in done
    assert done != pending
    assert BankRequest.get().state == "done"
    assert b.bank.db.card_status(CARD) == "blocked"
    assert b.bank.db.card_changes(CARD) == 2
    assert len(b.sent_to(ARBEN)) == 2
    print(json.dumps({"bank down": pending, "then": done}, ensure_ascii=False))


def test_alerts_turned_on_at_the_bank_itself_alert_nothing_booked_while_off(box: Box) -> None:
    """A STOP/START made elsewhere (the bank's branch) reaches the box by the sync only:
    the movement booked while off is not alerted after the sync that sees alerts on."""
    bank = box.bank.db
    bank.set_alerts(AGREEMENT, False)
    box.daemon.sync_bank()
    while_off = box.bank.book_movement("A1001", OVER_LIMIT, "card_payment")
    bank.set_alerts(AGREEMENT, True)
    box.daemon.sync_bank()  # one page: alerts on again, and the movement booked while off
    assert box.daemon.last_sync_error is None
    assert _alerts_for(while_off) == []
    since = Agreement.get_by_id(AGREEMENT).alerts_since
    assert since is not None
    # Alerts count from the next whole second after the sync that saw them on.
    wait_for(lambda: datetime.now(UTC) >= since, timeout=3, what="the bound passed")
    after = box.bank.book_movement("A1001", OVER_LIMIT, "card_payment")
    box.daemon.sync_bank()
    wait_for(lambda: _alerts_for(after), what="the alert of a movement booked after")


def test_card_blocks_are_counted_by_outcome_in_the_metrics(box: Box) -> None:
    """`appliance_card_blocks_total{status}` (docs/metrics.md) counts what the bank said."""
    from appliance.web import events

    def count(status: str) -> float:
        return sum(s.value for m in events.CARD_BLOCKS.collect() for s in m.samples
                   if s.name == "appliance_card_blocks_total"
                   and s.labels.get("status") == status)

    done, unknown = count("done"), count("unknown_card")
    ask(box, ARBEN, "BLLOKO 4821")
    ask(box, ARBEN, "BLLOKO 9999")
    assert count("done") == done + 1
    assert count("unknown_card") == unknown + 1
