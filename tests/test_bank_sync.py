"""sync_once against the fake bank over loopback into a real SQLite file (DESIGN §3, I4)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.bank.client import BankClient, BankUnavailable
from appliance.core.rules import Rules
from appliance.fakebank.server import FakeBankServer
from appliance.flows.ports import PageRejected
from appliance.flows.sync import sync_once
from appliance.store.db import open_database
from appliance.store.fields import utc_text
from appliance.store.models import Account, Agreement, Customer, Movement, OutboxMessage
from appliance.store.queries import STATE_BANK_CURSOR, get_state, last_sync_at, set_state
from appliance.store.state import STATE_BASELINE
from appliance.store.sync import stored_time as _stored_time

ROOT = Path(__file__).resolve().parents[1]
RULES = Rules()


@pytest.fixture
def db_path(store_target: str) -> Iterator[str]:
    """The store on SQLite and on PostgreSQL (conftest's `store_target`)."""
    db = open_database(store_target)
    yield store_target
    db.close()


def client_for(bank: FakeBankServer, **kw: object) -> BankClient:
    options: dict[str, object] = {"retries": 1, "backoff": 0.01, "read_timeout": 2.0}
    options.update(kw)
    return BankClient(bank.url, bank.token_file, **options)  # type: ignore[arg-type]


def now() -> datetime:
    return datetime.now(UTC)


def alerts() -> dict[str, str]:
    """dedupe key -> text of every alert in the outbox."""
    return {str(r.dedupe_key): str(r.text)
            for r in OutboxMessage.select().where(OutboxMessage.kind == "alert")}


def test_first_sync_loads_everything_without_alerting_history(
    bank: FakeBankServer, db_path: Path
) -> None:
    report = sync_once(client_for(bank), RULES, now(), page_size=5)
    assert report.complete
    assert report.pages > 5
    assert report.alerts == 0
    assert report.movements == Movement.select().count() == 20
    assert Customer.select().count() == 6
    assert Agreement.select().count() == 8
    assert Account.select().count() == 10
    assert get_state(STATE_BANK_CURSOR) == report.cursor
    assert get_state(STATE_BASELINE) == "done"
    assert last_sync_at() is not None
    assert OutboxMessage.select().count() == 0
    # Balances as the bank has them, with their "as of" time.
    a1001 = Account.get_by_id("A1001")
    assert a1001.balance == bank.db.balance("A1001")
    assert a1001.as_of.tzinfo is not None
    g6002 = Agreement.get_by_id("G6002")
    assert not g6002.active
    g2001 = Agreement.get_by_id("G2001")
    assert (g2001.language, g2001.alert_limit, g2001.phone) == ("en", Decimal(1000),
                                                                "+38349234567")


def test_paging_gives_the_same_state_as_one_page(bank: FakeBankServer, tmp_path: Path) -> None:
    client = client_for(bank)
    states = []
    for name, size in (("small.sqlite", 2), ("big.sqlite", 5000)):
        db = open_database(tmp_path / name)
        report = sync_once(client, RULES, now(), page_size=size, alert_backlog=True)
        states.append((
            sorted((m.id, m.amount, m.balance_after) for m in Movement.select()),
            sorted((a.id, a.balance) for a in Account.select()),
            sorted(alerts()),
            report.cursor,
        ))
        db.close()
    assert states[0] == states[1]
    assert len(states[0][2]) > 0  # the backlog alerted (history has movements >= limits)


def test_alert_backlog_alerts_history_at_most_once(bank: FakeBankServer, db_path: Path) -> None:
    client = client_for(bank)
    first = sync_once(client, RULES, now(), page_size=4, alert_backlog=True)
    # 950 salary and -600 (A1001, limit 500), 1200 and -1050 (A2001, limit 1000),
    # 2500 and -2200 (A3002, 2000), -5400 and 7300 (A5001: 5000 for G5001; 2000 for G5002).
    assert first.alerts == 10
    set_state(STATE_BANK_CURSOR, "0")  # replay the whole feed
    again = sync_once(client, RULES, now(), page_size=4, alert_backlog=True)
    assert (again.movements, again.alerts) == (0, 0)
    assert len(alerts()) == 10


def test_alerts_only_at_or_above_the_limit(bank: FakeBankServer, db_path: Path) -> None:
    client = client_for(bank)
    sync_once(client, RULES, now())
    below = bank.book_movement("A1001", Decimal("-499.99"), "card_payment")
    at = bank.book_movement("A1001", Decimal("-500.00"), "card_payment")
    above = bank.book_movement("A1002", Decimal("500.01"), "transfer_in")  # savings too
    both = bank.book_movement("A5001", Decimal("5000.00"), "transfer_in")
    one = bank.book_movement("A5001", Decimal("-2000.00"), "transfer_out")
    inactive = bank.book_movement("A6001", Decimal("-1000.00"), "transfer_out")
    report = sync_once(client, RULES, now(), page_size=3)
    assert report.movements == 6
    got = alerts()
    assert set(got) == {
        f"alert:{at}:+38344123456",
        f"alert:{above}:+38344123456",
        f"alert:{both}:+38344567890",
        f"alert:{both}:+38349567891",
        f"alert:{one}:+38349567891",  # only the accountant's limit (2000) is reached
        f"alert:{inactive}:+38344999001",  # G6001; the closed G6002 gets nothing
    }
    assert report.alerts == 6
    assert not any(below in key for key in got)
    assert "***2345" in got[f"alert:{at}:+38344123456"]  # last digits only (I7)
    assert "1110000100012345" not in "".join(got.values())
    rows = list(OutboxMessage.select().where(OutboxMessage.kind == "alert"))
    assert {(r.priority, r.state) for r in rows} == {(20, "queued")}
    assert "Movement" in got[f"alert:{both}:+38349567891"]  # G5002 is English


def test_resync_is_idempotent(bank: FakeBankServer, db_path: Path) -> None:
    client = client_for(bank)
    sync_once(client, RULES, now())
    bank.book_movement("A1001", Decimal("-900.00"), "transfer_out")
    assert sync_once(client, RULES, now()).alerts == 1
    assert sync_once(client, RULES, now()).pages == 1  # an empty page: nothing new
    set_state(STATE_BANK_CURSOR, "0")
    replay = sync_once(client, RULES, now(), page_size=3)
    assert (replay.movements, replay.alerts) == (0, 0)
    assert len(alerts()) == 1
    assert Account.get_by_id("A1001").balance == bank.db.balance("A1001")


def test_movements_booked_while_the_bank_link_is_down_alert_once(
    bank: FakeBankServer, db_path: Path
) -> None:
    client = client_for(bank)
    sync_once(client, RULES, now())
    bank.stop()
    ids = [bank.book_movement("A2001", Decimal(f"{1000 + i}.00"), "transfer_in")
           for i in range(5)]
    with pytest.raises(BankUnavailable):
        sync_once(client, RULES, now())
    bank.start()
    # The bank comes back failing half-way: the first page is committed, then 503.
    sync_once(client, RULES, now(), page_size=2, max_pages=1)
    bank.set_fault("down")
    with pytest.raises(BankUnavailable):
        sync_once(client, RULES, now(), page_size=2)
    bank.set_fault("none")
    report = sync_once(client, RULES, now(), page_size=2)
    assert report.complete
    assert set(alerts()) == {f"alert:{m}:+38349234567" for m in ids}
    assert sync_once(client, RULES, now()).alerts == 0


_CRASHING_SYNC = textwrap.dedent("""
    import os, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from appliance.flows import sync
    from appliance.bank.client import BankClient
    from appliance.core.rules import Rules
    from appliance.store.db import open_database

    db_path, url, token_file = sys.argv[1:4]
    open_database(db_path)
    real = sync._queue_alerts

    def queue_then_die(*args, **kwargs):
        real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # the box dies inside the page's transaction

    sync._queue_alerts = queue_then_die
    sync.sync_once(BankClient(url, Path(token_file)), Rules(), datetime.now(UTC), page_size=3)
""")


def test_movements_booked_while_the_box_is_down_alert_once(
    bank: FakeBankServer, db_path: Path
) -> None:
    client = client_for(bank)
    sync_once(client, RULES, now())
    cursor = get_state(STATE_BANK_CURSOR)
    ids = [bank.book_movement("A3001", Decimal("-2500.00"), "transfer_out") for _ in range(4)]
    # A sync process is killed after queueing a page's alerts, before its commit.
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_SYNC, str(db_path), bank.url, str(bank.token_file)],
        cwd=ROOT, capture_output=True, timeout=60, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    # Nothing of the killed page was committed.
    assert get_state(STATE_BANK_CURSOR) == cursor
    assert alerts() == {}
    report = sync_once(client, RULES, now(), page_size=3)
    assert report.alerts == 4
    assert set(alerts()) == {f"alert:{m}:+38345345678" for m in ids}


def test_rebound_phones_swap_between_agreements(bank: FakeBankServer, db_path: Path) -> None:
    client = client_for(bank)
    sync_once(client, RULES, now())
    client.rebind_phone("G1001", "+38344000001")
    client.rebind_phone("G2001", "+38344123456")  # G1001's old number
    client.rebind_phone("G1001", "+38349234567")  # G2001's old number
    sync_once(client, RULES, now())
    assert Agreement.get_by_id("G1001").phone == "+38349234567"
    assert Agreement.get_by_id("G2001").phone == "+38344123456"
    moved = bank.book_movement("A1001", Decimal("-800.00"), "transfer_out")
    sync_once(client, RULES, now())
    assert set(alerts()) == {f"alert:{moved}:+38349234567"}


def test_an_older_account_state_never_overwrites_a_newer_one(
    bank: FakeBankServer, db_path: Path
) -> None:
    client = client_for(bank)
    sync_once(client, RULES, now())
    newer = datetime(2099, 1, 1, tzinfo=UTC)
    Account.update(balance=Decimal("1.00"), as_of=newer).where(Account.id == "A1001").execute()
    set_state(STATE_BANK_CURSOR, "0")
    sync_once(client, RULES, now())
    assert Account.get_by_id("A1001").balance == Decimal("1.00")


def test_sync_reads_the_token_file_not_a_literal(bank: FakeBankServer, db_path: Path) -> None:
    # The daemon process never holds the token in its config: only the file path.
    assert os.stat(bank.token_file).st_mode & 0o077 == 0
    sync_once(client_for(bank), RULES, now())
    assert last_sync_at() is not None


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)),
                                               timezone(timedelta(hours=-5, minutes=-30))])))
def test_the_fast_stored_time_is_the_stores_format(ts: datetime) -> None:
    assert _stored_time(ts) == utc_text(ts)


def test_a_page_breaking_our_constraints_is_a_protocol_error_and_commits_nothing(
    db_path: Path, tmp_path: Path
) -> None:
    # The fake bank cannot send a movement of an account it never announced; a mock
    # transport plays such a broken bank.
    page = {"cursor": "7", "more": False, "customers": [], "agreements": [], "accounts": [],
            "movements": [{"id": "MV1", "account_id": "A-unknown", "amount": "-900.00",
                           "type": "card_payment", "booked_at": "2026-11-27T10:00:00+00:00",
                           "balance_after": "100.00"}]}
    token = tmp_path / "token"
    token.write_text("t0ken")
    client = BankClient("http://bank.invalid", token,
                        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page)))
    with pytest.raises(PageRejected, match="rejected"):
        sync_once(client, RULES, now())
    assert get_state(STATE_BANK_CURSOR) is None
    assert Movement.select().count() == 0


# Accounts and the (phone, limit) of the active agreements that get their alerts.
SUBSCRIBERS: dict[str, tuple[tuple[str, Decimal], ...]] = {
    "A1001": (("+38344123456", Decimal(500)),),
    "A2001": (("+38349234567", Decimal(1000)),),
    "A5001": (("+38344567890", Decimal(5000)), ("+38349567891", Decimal(2000))),
    "A6001": (("+38344999001", Decimal(500)),),  # G6002 on the same customer is closed
}
steps = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.sampled_from(sorted(SUBSCRIBERS)),
                  st.sampled_from(["-12.50", "499.99", "-500.00", "1000.00", "-2000.00",
                                   "5000.00", "-7300.10"])),
        st.tuples(st.just("sync"), st.integers(min_value=1, max_value=6),
                  st.sampled_from(["none", "error500", "down", "stopped"])),
    ),
    min_size=1, max_size=12,
)


@settings(max_examples=12, deadline=None)
@given(plan=steps)
def test_every_movement_alerts_each_subscribed_phone_exactly_once(
    plan: list[tuple[str, str, str] | tuple[str, int, str]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bank = FakeBankServer(Path(tmp) / "bank").start()
        db = open_database(Path(tmp) / "appliance.sqlite")
        try:
            client = client_for(bank, retries=0)
            sync_once(client, RULES, now())  # the baseline
            booked: list[tuple[str, str, Decimal]] = []
            for step in plan:
                if step[0] == "book":
                    _, account, amount = step
                    amount_value = Decimal(str(amount))
                    booked.append((bank.book_movement(str(account), amount_value, "transfer"),
                                   str(account), amount_value))
                    continue
                _, page_size, fault = step
                if fault == "stopped":
                    bank.stop()
                elif fault != "none":
                    bank.set_fault(str(fault), count=1)
                with contextlib.suppress(BankUnavailable):
                    sync_once(client, RULES, now(), page_size=int(page_size), max_pages=2)
                bank.set_fault("none")
                bank.start()
            while not sync_once(client, RULES, now(), page_size=3).complete:
                pass  # recovery: read the feed to its end
            expected = {
                f"alert:{movement}:{phone}"
                for movement, account, amount in booked
                for phone, limit in SUBSCRIBERS[account]
                if abs(amount) >= limit
            }
            rows = [str(r.dedupe_key) for r in OutboxMessage.select().where(
                OutboxMessage.kind == "alert")]
            assert len(rows) == len(set(rows))
            assert set(rows) == expected
        finally:
            db.close()
            bank.close()


def test_each_committed_page_is_told_its_alerts_while_the_sync_goes_on(
        bank: FakeBankServer, db_path: Path) -> None:
    """A payroll spans pages: the daemon sends each page's alerts once it is committed
    (`on_page`), not after the last page."""
    client = client_for(bank)
    sync_once(client, RULES, now())
    for _ in range(7):
        bank.book_movement("A1001", Decimal("600.00"), "salary")
    seen: list[tuple[int, int]] = []  # (alerts the page told, alerts in the outbox then)

    def page(n: int) -> None:
        seen.append((n, OutboxMessage.select().where(OutboxMessage.kind == "alert").count()))

    report = sync_once(client, RULES, now(), page_size=3, on_page=page)
    assert report.alerts == 7
    told = [n for n, _ in seen]
    assert len(told) > 1  # over several pages
    assert sum(told) == 7
    assert all(told)  # each page with alerts, once
    # committed when told: the outbox holds every alert told so far
    assert [queued for _, queued in seen] == [sum(told[:i + 1]) for i in range(len(told))]
