"""/metrics and / over loopback HTTP, against a real SQLite file seeded through the store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.ops.snapshot import ModemFacts, snapshot_path, write_snapshot
from appliance.store import open_database
from appliance.store import queries as q
from appliance.store.models import Agreement, Customer, OutboxMessage, TopupOrder
from appliance.web import events, serve
from appliance.web.server import WebServer
from appliance.web.signal import SignalHistory
from tests.conftest import _ACCOUNT_RE, _PHONE_RE, SEED_PHONES

PHONE = SEED_PHONES[0]


@dataclass
class Seeded:
    db_path: Path
    now: datetime
    history: SignalHistory
    server: WebServer


def deliver(phone: str, at: datetime, n: int) -> None:
    """An inbound SMS committed as the inbox does it."""
    q.store_inbound(modem="vala", pdu=f"07913854{n:08d}", sender=phone, smsc_time=at,
                    received_at=at, text="B")


def seed(db_path: Path, now: datetime) -> None:
    """A box with traffic, queues, a synced bank, a top-up, an error and one healthy modem."""
    for n, hours_ago in enumerate((5, 2, 1)):
        deliver(SEED_PHONES[n], now - timedelta(hours=hours_ago), n)
    old = now - timedelta(seconds=120)
    q.enqueue_outbox(PHONE, "Bilanci 1", "reply", old)
    q.enqueue_outbox(SEED_PHONES[1], "Bilanci 2", "reply", now)
    q.enqueue_outbox(PHONE, "Levizje", "alert", now)
    q.enqueue_outbox(PHONE, "Mbushja u krye", "topup_result", now)
    sent = q.enqueue_outbox(SEED_PHONES[2], "Bilanci 3", "reply", now - timedelta(hours=1))
    assert sent is not None
    OutboxMessage.update(state="sent", sent_at=now - timedelta(minutes=50)).where(
        OutboxMessage.id == sent.id).execute()
    failed = q.enqueue_outbox(SEED_PHONES[1], "x", "reply", now - timedelta(minutes=5))
    assert failed is not None
    q.mark_failed(failed.id, f"+CMS ERROR: 500 sending to {SEED_PHONES[1]}", now)
    q.set_last_sync_at(now - timedelta(seconds=30))
    q.record_modem_identity("vala", "221011234567890", "861234567890123", now)
    customer = Customer.create(id="c1", name="Test")
    Agreement.create(id="a1", customer=customer, phone=PHONE)
    inbound = q.pending_inbound()[0]
    q.create_topup_order(idempotency_key="k1", agreement_id="a1", inbound_id=inbound.id,
                         target="+38349111222", operator="vala", product=None,
                         subscriber_id=None, amount=Decimal(5), now=now)
    TopupOrder.update(state="done").execute()
    write_snapshot(snapshot_path(db_path), [ModemFacts(
        name="vala", port="/dev/gsm-vala", healthy=True, checked_at=now, signal_dbm=-71,
        registration="home", operator="Vala", storage_used=3, storage_total=30,
        imsi="221011234567890")], now)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    db_path = tmp_path / "appliance.sqlite"
    db = open_database(db_path)
    now = datetime.now(UTC)
    seed(db_path, now)
    history = SignalHistory()
    for hours_ago, dbm in ((20, -90), (12, -85), (6, -99), (2, -77)):
        history.record("vala", dbm, now - timedelta(hours=hours_ago))
    server = serve("127.0.0.1:0", db_path, history=history)
    try:
        yield Seeded(db_path, now, history, server)
    finally:
        server.close()
        db.close()


def scrape(server: WebServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(server.metrics_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_gauges_come_from_the_store(seeded: Seeded) -> None:
    m = scrape(seeded.server)
    assert m[("appliance_store_up", ())] == 1
    for priority, n in (("reply", 2), ("alert", 1), ("topup_result", 1)):
        assert m[("appliance_outbox_queued", (("priority", priority),))] == n, priority
    assert m[("appliance_outbox_messages", (("state", "failed"),))] == 1
    assert m[("appliance_outbox_messages", (("state", "sent"),))] == 1
    assert 119 <= m[("appliance_outbox_oldest_queued_seconds", ())] < 300
    assert m[("appliance_inbound_messages", (("state", "stored"),))] == 3
    assert 5 * 3600 - 60 <= m[("appliance_inbound_oldest_pending_seconds", ())] < 5 * 3600 + 120
    newest = m[("appliance_inbound_last_received_timestamp_seconds", ())]
    assert abs(newest - (seeded.now - timedelta(hours=1)).timestamp()) < 1
    assert 29 <= m[("appliance_bank_sync_age_seconds", ())] < 120
    assert m[("appliance_topup_orders", (("status", "done"),))] == 1
    assert m[("appliance_topup_orders", (("status", "pending"),))] == 0
    assert m[("appliance_modem_up", (("modem", "vala"),))] == 1
    assert m[("appliance_modem_signal_dbm", (("modem", "vala"),))] == -71
    assert m[("appliance_modem_registered", (("modem", "vala"),))] == 1
    assert m[("appliance_modem_storage_used_ratio", (("modem", "vala"),))] == pytest.approx(0.1)
    assert m[("appliance_daemon_running", ())] == 1
    assert ("process_resident_memory_bytes", ()) in m


def test_gauges_follow_the_store(seeded: Seeded) -> None:
    before = scrape(seeded.server)[("appliance_inbound_messages", (("state", "stored"),))]
    deliver(SEED_PHONES[2], datetime.now(UTC), 99)
    after = scrape(seeded.server)[("appliance_inbound_messages", (("state", "stored"),))]
    assert after == before + 1


def test_a_stopped_daemon_shows_its_modems_down(seeded: Seeded) -> None:
    write_snapshot(snapshot_path(seeded.db_path), [ModemFacts(
        name="vala", port="/dev/gsm-vala", healthy=True, checked_at=seeded.now,
        signal_dbm=-71)], seeded.now, pid=2**22 + 1)  # above pid_max: no such process
    m = scrape(seeded.server)
    assert m[("appliance_daemon_running", ())] == 0
    assert m[("appliance_modem_up", (("modem", "vala"),))] == 0
    assert ("appliance_modem_signal_dbm", (("modem", "vala"),)) not in m


def test_event_counters_and_latency(seeded: Seeded) -> None:
    before = scrape(seeded.server)
    events.inbound_stored()
    events.sms_sent("reply")
    events.sms_sent("reply")
    events.send_failed(f"timeout to {PHONE}")
    events.topup_finished("done")
    t = datetime.now(UTC)
    events.reply_submitted(t, t + timedelta(seconds=3))
    after = scrape(seeded.server)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert delta("appliance_inbound_total") == 1
    assert delta("appliance_sms_sent_total", kind="reply") == 2
    assert delta("appliance_topups_total", status="done") == 1
    assert delta("appliance_reply_latency_seconds_count") == 1
    assert delta("appliance_reply_latency_seconds_sum") == pytest.approx(3)
    assert delta("appliance_reply_latency_seconds_bucket", le="2.0") == 0
    assert delta("appliance_reply_latency_seconds_bucket", le="5.0") == 1
    reasons = [dict(k[1])["reason"] for k in after if k[0] == "appliance_send_failures_total"]
    assert "timeout_to_n" in reasons


def test_no_phone_or_account_number_anywhere(seeded: Seeded) -> None:
    events.send_failed(f"to {PHONE} account 1234567890123456")
    events.modem_reconnected("38344123456")
    for (_, labels) in scrape(seeded.server):
        for _, value in labels:
            assert not re.search(r"[0-9]{5}", value), value
    page = httpx.get(seeded.server.status_url, timeout=10).text
    for rx in (_PHONE_RE, _ACCOUNT_RE):
        assert rx.search(page) is None, rx.search(page)
    assert "+383 49 *** *22" in page  # the top-up's number, masked but for its last digits
    assert "+CMS ERROR: 500 sending to +383 49 *** *67" in page


def test_status_page_is_self_contained_and_read_only(seeded: Seeded) -> None:
    response = httpx.get(seeded.server.status_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert '<tr class="modem"><td>vala</td><td><span class="ok">up</span>' in page
    assert "-71 dBm" in page
    assert page.count("<polyline") == 1  # the signal chart of the one modem
    assert '<span id="received">3</span> received' in page
    assert '<span id="sent">1</span> sent' in page
    assert httpx.post(seeded.server.status_url, timeout=10).status_code == 405
    assert httpx.get(f"{seeded.server.url}/nothing", timeout=10).status_code == 404


def test_an_unreadable_store_is_reported_not_fatal(tmp_path: Path) -> None:
    server = serve("127.0.0.1:0", tmp_path / "not-migrated.sqlite", history=SignalHistory())
    try:
        m = scrape(server)
        assert m[("appliance_store_up", ())] == 0
        page = httpx.get(server.status_url, timeout=10)
        assert page.status_code == 503
        assert "cannot read the database" in page.text
    finally:
        server.close()


def test_listen_address_is_checked() -> None:
    from appliance.web.server import parse_listen

    assert parse_listen("127.0.0.1:9333") == ("127.0.0.1", 9333)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("9333", "localhost:", ":80", "127.0.0.1:http"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)


def test_docs_list_every_metric(seeded: Seeded) -> None:
    text = httpx.get(seeded.server.metrics_url, timeout=10).text
    served = set(re.findall(r"^# TYPE (appliance_\w+) ", text, re.M))
    served = {n for n in served if not n.endswith("_created")}  # prometheus-client's own
    doc = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(appliance_\w+)` \|", doc, re.M))
    assert len(served) >= 28
    assert served == documented
    for name in ("appliance_inbound_total", "appliance_reply_latency_seconds",
                 "appliance_outbox_queued", "appliance_sms_sent_total", "appliance_modem_up",
                 "appliance_modem_signal_dbm", "appliance_bank_sync_age_seconds",
                 "appliance_topups_total"):  # the names DESIGN §9 promises
        assert name in served, name


def test_docs_alert_rules_use_served_metrics() -> None:
    import yaml

    doc = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert block is not None
    rules = yaml.safe_load(block.group(1))["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    for needed in ("ApplianceModemDown", "ApplianceQueueGrowing", "ApplianceBankSyncStale",
                   "ApplianceNoInboundInBusinessHours"):
        assert needed in names
    documented = set(re.findall(r"^\| `(appliance_\w+)` \|", doc, re.M))
    for rule in rules:
        for used in re.findall(r"appliance_\w+", rule["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", used)
            assert base in documented, (rule["alert"], used)


def test_served_from_the_daemons_settings(seeded: Seeded) -> None:
    from appliance.config import load
    from tests.conftest import config_toml

    config = seeded.db_path.parent / "appliance.toml"
    config.write_text(config_toml(seeded.db_path.parent, "http://127.0.0.1:1",
                                  seeded.db_path.parent / "token", Path("/dev/null"),
                                  modems={"vala": {"name": "vala", "port": "/dev/null",
                                                   "operator": "vala"},
                                          "ipko": {"name": "ipko", "port": "/dev/zero",
                                                   "operator": "ipko"}},
                                  rules={"timezone": "Europe/Belgrade"}), encoding="utf-8")
    settings = load(config)
    assert settings.database == seeded.db_path
    server = serve("127.0.0.1:0", settings, history=SignalHistory())
    try:
        m = scrape(server)
        # A configured modem the daemon never reported is shown, and down.
        assert m[("appliance_modem_up", (("modem", "ipko"),))] == 0
        assert m[("appliance_modem_up", (("modem", "vala"),))] == 1
        page = httpx.get(server.status_url, timeout=10).text
        assert "(Europe/Belgrade)" in page
        assert '<tr class="modem"><td>ipko</td><td><span class="bad">down</span>' in page
    finally:
        server.close()


def test_a_fresh_box_before_its_first_sync(tmp_path: Path) -> None:
    db = open_database(tmp_path / "fresh.sqlite")
    server = serve("127.0.0.1:0", tmp_path / "fresh.sqlite", history=SignalHistory())
    try:
        m = scrape(server)
        assert m[("appliance_store_up", ())] == 1
        assert m[("appliance_bank_sync_age_seconds", ())] == float("inf")
        assert ("appliance_bank_last_sync_timestamp_seconds", ()) not in m
        assert m[("appliance_daemon_running", ())] == 0
        page = httpx.get(server.status_url, timeout=10)
        assert page.status_code == 200
        assert "no modem known yet" in page.text
        assert '<span class="bad">-</span> ago' in page.text
    finally:
        server.close()
        db.close()
