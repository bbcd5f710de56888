"""Retention: the `retention_days` key and the daemon's daily housekeeping job that deletes
finished traffic older than it (through `queries.prune`), keeping money rows for ever."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from appliance.config import DEFAULT_RETENTION_DAYS, load, load_or_exit
from appliance.daemon import HOUSEKEEPING_DELAY, Daemon
from appliance.store import open_database, queries
from appliance.store.models import (
    Account,
    Agreement,
    Customer,
    InboundMessage,
    Movement,
    OutboxMessage,
    TopupOrder,
    UnknownSenderReply,
)
from tests.conftest import Box

REPO = Path(__file__).resolve().parent.parent
GOOD = ('[[modems]]\nname = "vala"\nport = "/dev/ttyUSB0"\noperator = "vala"\n'
        '[bank]\nurl = "https://bank.example"\n')
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PHONE = "+38344123456"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- config ---------------------------------------------------------------------------


def test_retention_days_defaults_to_90_and_the_examples_show_it(tmp_path: Path) -> None:
    assert DEFAULT_RETENTION_DAYS == 90
    assert load(_write(tmp_path, GOOD)).retention_days == 90
    assert load(REPO / "config" / "appliance.example.toml").retention_days == 90
    assert load(REPO / "config" / "demo.toml").retention_days == 90


@pytest.mark.parametrize("value", [1, 30, 3650, 0])
def test_retention_days_takes_a_whole_number_of_days_or_0(tmp_path: Path, value: int) -> None:
    settings = load(_write(tmp_path, f"retention_days = {value}\n" + GOOD))
    assert settings.retention_days == value


@pytest.mark.parametrize(("raw", "shown"), [
    ("-1", "-1"), ('"90"', '"90"'), ("1.5", "1.5"), ("true", "true")])
def test_bad_retention_days_is_one_line_naming_the_key_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: str, shown: str) -> None:
    path = _write(tmp_path, f"retention_days = {raw}\n" + GOOD)
    with pytest.raises(SystemExit) as exited:
        load_or_exit(path)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"retention_days: expected an integer of 0 or more, got {shown}" in err


# --- the housekeeping job on a real SQLite file ---------------------------------------


def _seed_customer() -> Agreement:
    customer = Customer.create(id="C1", name="Arta")
    account = Account.create(id="A1", customer=customer, kind="current",
                             number="1110000000001234", balance=Decimal("10.00"), as_of=NOW)
    Movement.create(id="M-old", account=account, amount=Decimal("-600"), type="card",
                    booked_at=NOW - timedelta(days=400), synced_at=NOW - timedelta(days=400))
    agreement: Agreement = Agreement.create(id="AG1", customer=customer, phone=PHONE,
                                            language="en", services="balance,topup,alerts")
    return agreement


def _traffic(agreement: Agreement, at: datetime, tag: str) -> None:
    """One day's finished traffic at `at`: a reply, an alert, a top-up and a refusal."""
    answered, _ = queries.store_inbound(modem="vala", pdu=f"{tag}01", sender=PHONE,
                                        smsc_time=at, received_at=at, state="handled")
    # Created finished (not queued, then updated): a running daemon's outbox worker must
    # not pick them up in between.
    OutboxMessage.create(to=PHONE, text=f"reply {tag}", kind="reply", state="delivered",
                         inbound=int(answered.id), created_at=at, sent_at=at)
    OutboxMessage.create(to=PHONE, text=f"alert {tag}", kind="alert", state="sent",
                         created_at=at, sent_at=at)
    topup_in, _ = queries.store_inbound(modem="vala", pdu=f"{tag}02", sender=PHONE,
                                        smsc_time=at, received_at=at, state="handled")
    TopupOrder.create(idempotency_key=f"key-{tag}", agreement=agreement,
                      inbound=int(topup_in.id), target=PHONE, operator="vala",
                      amount=Decimal(5), state="done", created_at=at, updated_at=at)
    queries.claim_unknown_sender_reply("+38349000000", f"day-{tag}", at)


def _daemon(tmp_path: Path, retention_days: int) -> Daemon:
    settings = load(_write(tmp_path, f'database = "db.sqlite"\n'
                                     f"retention_days = {retention_days}\n" + GOOD))
    return Daemon(settings, clock=lambda: NOW)


def test_housekeeping_deletes_finished_traffic_older_than_retention_and_keeps_money(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = open_database(tmp_path / "db.sqlite")
    try:
        agreement = _seed_customer()
        # A backlog spread over a year (an upgraded box's first pass), and recent traffic.
        for age in (400, 250, 120, 91):
            _traffic(agreement, NOW - timedelta(days=age), f"old{age}")
        for age in (89, 1):
            _traffic(agreement, NOW - timedelta(days=age), f"new{age}")
        waiting, _ = queries.store_inbound(modem="vala", pdu="ff", sender=PHONE,
                                           smsc_time=None, received_at=NOW - timedelta(days=300),
                                           state="waiting_parts")
        queued = queries.enqueue_outbox(PHONE, "still queued", "alert",
                                        NOW - timedelta(days=300))
        assert queued is not None

        with caplog.at_level(logging.INFO, logger="appliance.daemon"):
            removed = _daemon(tmp_path, 90).housekeeping()

        assert removed == {"outbox": 8, "inbound": 4, "unknown_sender": 4}
        assert sorted(r.text for r in OutboxMessage.select()) == [
            "alert new1", "alert new89", "reply new1", "reply new89", "still queued"]
        # Inbound left: the recent ones, the one still waiting, and every top-up's request.
        left = {str(r.pdu) for r in InboundMessage.select()}
        assert left == {"new8901", "new8902", "new101", "new102", "ff",
                        "old40002", "old25002", "old12002", "old9102"}
        assert waiting.id in {r.id for r in InboundMessage.select()}
        assert TopupOrder.select().count() == 6
        assert Movement.select().count() == 1
        assert UnknownSenderReply.select().count() == 2
        lines = [r.getMessage() for r in caplog.records if "housekeeping" in r.getMessage()]
        assert lines == ["housekeeping: removed rows older than 90 days: 8 outgoing SMS, "
                         "4 incoming SMS, 4 refusal markers"]

        # A second pass finds nothing more to do.
        assert _daemon(tmp_path, 90).housekeeping() == {
            "outbox": 0, "inbound": 0, "unknown_sender": 0}
    finally:
        db.close()


def test_retention_days_0_keeps_everything(tmp_path: Path) -> None:
    db = open_database(tmp_path / "db.sqlite")
    try:
        agreement = _seed_customer()
        _traffic(agreement, NOW - timedelta(days=3000), "ancient")
        assert _daemon(tmp_path, 0).housekeeping() == {
            "outbox": 0, "inbound": 0, "unknown_sender": 0}
        assert OutboxMessage.select().count() == 2
        assert InboundMessage.select().count() == 2
        assert UnknownSenderReply.select().count() == 1
    finally:
        db.close()


# --- the running daemon ---------------------------------------------------------------


def test_running_daemon_schedules_housekeeping_daily_and_soon_after_start(box: Box) -> None:
    job = box.daemon.scheduler.get_job("housekeeping")
    assert job is not None
    assert job.trigger.interval == timedelta(days=1)
    wait = job.next_run_time - datetime.now(UTC)
    assert timedelta(0) < wait <= HOUSEKEEPING_DELAY


def test_running_daemon_housekeeping_prunes_its_own_database(box: Box) -> None:
    """Through the real box (synced bank data, live workers): old finished rows go, the
    bank's movements and the top-up orders stay, and the log line shows counts only."""
    now = datetime.now(UTC)
    agreement = Agreement.select().first()
    assert agreement is not None
    movements = Movement.select().count()
    assert movements > 0
    _traffic(agreement, now - timedelta(days=100), "old")
    _traffic(agreement, now - timedelta(days=10), "new")

    removed = box.daemon.housekeeping()

    assert removed == {"outbox": 2, "inbound": 1, "unknown_sender": 1}
    assert sorted(r.text for r in OutboxMessage.select().where(
        OutboxMessage.text.startswith("alert ") | OutboxMessage.text.startswith("reply "))
    ) == ["alert new", "reply new"]
    assert TopupOrder.select().where(TopupOrder.idempotency_key.startswith("key-")).count() == 2
    assert Movement.select().count() == movements
    log = box.log_file.read_text(encoding="utf-8")
    assert ("housekeeping: removed rows older than 90 days: 2 outgoing SMS, "
            "1 incoming SMS, 1 refusal markers") in log

