"""BankClient against the fake bank over real HTTP on loopback: every endpoint, every fault."""

from __future__ import annotations

import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from appliance.bank.client import (
    BankAuthError,
    BankClient,
    BankProtocolError,
    BankRejected,
    BankTLSError,
    BankUnavailable,
    ChangesPage,
)
from appliance.fakebank.server import FakeBankServer
from tests.helpers import wait_for


class Sleeps:
    """Records the backoff delays instead of sleeping them (keeps the tests fast)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(bank: FakeBankServer, sleeps: Sleeps | None = None, **kw: object) -> BankClient:
    options: dict[str, object] = {"connect_timeout": 1.0, "read_timeout": 2.0, "retries": 3,
                                  "backoff": 0.2}
    options.update(kw)
    return BankClient(bank.url, bank.token_file, sleep=sleeps or Sleeps(), **options)  # type: ignore[arg-type]


def all_pages(client: BankClient, limit: int) -> list[ChangesPage]:
    pages = []
    cursor: str | None = None
    while True:
        page = client.changes(cursor, limit)
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            return pages


def test_changes_pages_through_the_whole_seed(bank: FakeBankServer) -> None:
    client = make_client(bank)
    pages = all_pages(client, 7)
    assert len(pages) > 3
    cursors = [int(p.cursor) for p in pages]
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == len(cursors)
    movements = [m for p in pages for m in p.movements]
    assert len({m.id for m in movements}) == len(movements) == 20  # the seed's history
    agreements = {a.id: a for p in pages for a in p.agreements}
    assert {a.alert_limit for a in agreements.values()} >= {
        Decimal(500), Decimal(1000), Decimal(2000), Decimal(5000)}
    assert {a.language for a in agreements.values()} == {"sq", "en"}
    accounts = {a.id: a for p in pages for a in p.accounts}
    assert {a.kind for a in accounts.values()} == {"current", "business", "savings"}
    assert all(isinstance(a.balance, Decimal) and a.as_of.tzinfo for a in accounts.values())
    # The running balance: each movement's balance_after is the previous one plus its amount.
    by_account: dict[str, list[Decimal]] = {}
    for m in movements:
        by_account.setdefault(m.account_id, []).append(m.balance_after)
        assert isinstance(m.amount, Decimal)
    for account_id, afters in by_account.items():
        assert afters[-1] == accounts[account_id].balance
    # An empty page at the end keeps the cursor.
    last = client.changes(pages[-1].cursor, 50)
    assert (last.cursor, last.more, last.movements) == (pages[-1].cursor, False, ())


def test_new_movement_appears_after_the_cursor(bank: FakeBankServer) -> None:
    client = make_client(bank)
    cursor = all_pages(client, 500)[-1].cursor
    movement_id = bank.book_movement("A1001", Decimal("-12.50"), "card_payment")
    page = client.changes(cursor, 500)
    assert [m.id for m in page.movements] == [movement_id]
    assert page.movements[0].amount == Decimal("-12.50")
    assert [a.id for a in page.accounts] == ["A1001"]
    assert page.accounts[0].balance == page.movements[0].balance_after
    assert int(page.cursor) > int(cursor)


def test_topup_done_replayed_and_debited_once(bank: FakeBankServer) -> None:
    client = make_client(bank)
    before = bank.db.balance("A1001")
    first = client.topup("order-0001-abcdef", "+38344111222", "vala", Decimal(5),
                         agreement_id="G1001")
    again = client.topup("order-0001-abcdef", "+38344111222", "vala", Decimal("5.00"),
                         agreement_id="G1001")
    assert first.done
    assert first == again
    assert first.balance_after == before - 5 == bank.db.balance("A1001")
    assert bank.db.debit_count("order-0001-abcdef") == 1


def test_topup_rejections_carry_the_reason(bank: FakeBankServer) -> None:
    client = make_client(bank)
    poor = client.topup("order-0002-abcdef", "+38343111222", "ipko_mobile", Decimal(10),
                        agreement_id="G4001")
    assert (poor.status, poor.reason, poor.balance_after) == (
        "rejected", "insufficient_funds", None)
    ported = client.topup("order-0003-abcdef", "+38344999001", "vala", Decimal(5),
                          agreement_id="G1001")
    assert (ported.status, ported.reason) == ("rejected", "operator_mismatch")
    ported_ok = client.topup("order-0004-abcdef", "+38344999001", "ipko_mobile", Decimal(5),
                             agreement_id="G1001")
    assert ported_ok.done
    inactive = client.topup("order-0005-abcdef", "+38344111222", "vala", Decimal(5),
                            agreement_id="G6002")
    assert inactive.reason == "agreement_inactive"
    product = client.topup("order-0006-abcdef", None, "ipko_fixed", Decimal(20),
                           product="internet", subscriber_id="arben.k", agreement_id="G3001")
    assert product.done
    assert bank.db.debit_count() == 2


def test_same_key_different_body_is_422_and_not_retried(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps)
    client.topup("order-0007-abcdef", "+38344111222", "vala", Decimal(5), agreement_id="G1001")
    with pytest.raises(BankRejected) as info:
        client.topup("order-0007-abcdef", "+38344111222", "vala", Decimal(10),
                     agreement_id="G1001")
    assert (info.value.status, info.value.code) == (422, "idempotency_key_reused")
    assert sleeps.delays == []
    assert bank.db.debit_count() == 1


def test_rebind_phone(bank: FakeBankServer) -> None:
    client = make_client(bank)
    cursor = all_pages(client, 500)[-1].cursor
    agreement = client.rebind_phone("G2001", "+38349000111")
    assert (agreement.id, agreement.phone) == ("G2001", "+38349000111")
    assert [a.phone for a in client.changes(cursor, 50).agreements] == ["+38349000111"]
    with pytest.raises(BankRejected) as missing:
        client.rebind_phone("G9999", "+38349000112")
    assert missing.value.status == 404
    with pytest.raises(BankRejected) as taken:
        client.rebind_phone("G2001", "+38344123456")
    assert (taken.value.status, taken.value.code) == (409, "phone_taken")


def test_bank_down_refuses_connections_then_recovers(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps, retries=2)
    bank.stop()
    with pytest.raises(BankUnavailable, match="connection failed"):
        client.changes(None, 10)
    assert len(sleeps.delays) == 2
    bank.start()  # same port again
    assert client.changes(None, 10).cursor


def test_503_is_retried_then_gives_up(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps, retries=3)
    bank.set_fault("down")
    before = len(bank.app.seen)
    with pytest.raises(BankUnavailable, match="503"):
        client.changes(None, 10)
    assert len(bank.app.seen) - before == 4
    # Exponential backoff with jitter in [ceiling/2, ceiling].
    for attempt, delay in enumerate(sleeps.delays):
        ceiling = 0.2 * 2**attempt
        assert ceiling / 2 <= delay <= ceiling


def test_500_then_ok_is_retried(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps)
    bank.set_fault("error500", count=1)
    page = client.changes(None, 10)
    assert page.cursor
    assert len(sleeps.delays) == 1


def test_4xx_is_not_retried(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps)
    before = len(bank.app.seen)
    with pytest.raises(BankRejected) as info:
        client.changes("not-a-cursor", 10)
    assert (info.value.status, info.value.code) == (400, "bad_cursor")
    with pytest.raises(BankRejected):
        client.changes(None, 0)
    assert sleeps.delays == []
    assert len(bank.app.seen) - before == 2


def test_bad_token_is_an_auth_error_and_a_rotated_token_is_reread(
    bank: FakeBankServer, tmp_path: Path
) -> None:
    sleeps = Sleeps()
    token_file = tmp_path / "token"
    token_file.write_text("wrong-token\n")
    client = BankClient(bank.url, token_file, sleep=sleeps, retries=3)
    with pytest.raises(BankAuthError):
        client.changes(None, 10)
    assert sleeps.delays == []
    # The credential is rotated under the running client: it reads the file again on 401.
    token_file.write_text(bank.token_file.read_text())
    assert client.changes(None, 10).cursor


def test_missing_token_file_is_an_auth_error(bank: FakeBankServer, tmp_path: Path) -> None:
    with pytest.raises(BankAuthError, match="token file"):
        BankClient(bank.url, tmp_path / "absent")


def test_slow_bank_times_out(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps, read_timeout=0.2, retries=1)
    bank.set_fault("slow", delay=5.0)
    started = time.monotonic()
    with pytest.raises(BankUnavailable, match="timeout"):
        client.changes(None, 10)
    assert time.monotonic() - started < 2.0
    assert len(sleeps.delays) == 1


def test_timeout_after_debit_is_retried_with_the_same_key(bank: FakeBankServer) -> None:
    sleeps = Sleeps()
    client = make_client(bank, sleeps, read_timeout=0.3)
    bank.set_fault("timeout_after_debit", count=1, delay=5.0)
    before = bank.db.balance("A2001")
    result = client.topup("order-0008-abcdef", "+38349111222", "ipko_mobile", Decimal(3),
                          agreement_id="G2001")
    assert result.done
    assert len(sleeps.delays) == 1
    assert bank.db.debit_count("order-0008-abcdef") == 1
    assert bank.db.balance("A2001") == before - 3
    assert bank.db.topup_movement_count("A2001") == 1


def test_timeout_after_debit_without_retries_leaves_exactly_one_debit(
    bank: FakeBankServer,
) -> None:
    client = make_client(bank, read_timeout=0.3, retries=0)
    bank.set_fault("timeout_after_debit", delay=5.0)
    with pytest.raises(BankUnavailable):
        client.topup("order-0009-abcdef", "+38349111222", "ipko_mobile", Decimal(3),
                     agreement_id="G2001")
    assert bank.db.debit_count("order-0009-abcdef") == 1
    bank.set_fault("none")
    replay = client.topup("order-0009-abcdef", "+38349111222", "ipko_mobile", Decimal(3),
                          agreement_id="G2001")
    assert replay.done
    assert bank.db.debit_count() == 1


def test_concurrent_same_key_debits_once(bank: FakeBankServer) -> None:
    client = make_client(bank)
    results = []

    def go() -> None:
        results.append(client.topup("order-0010-abcdef", "+38344111222", "vala", Decimal(2),
                                    agreement_id="G1001"))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)
    wait_for(lambda: len(results) == 8, what="all eight answers")
    assert len({r.id for r in results}) == 1
    assert bank.db.debit_count() == 1


def test_money_as_a_json_float_is_a_protocol_error() -> None:
    # No real bank part here can send a float: a mock transport plays a broken bank.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "T1", "status": "done", "balance_after": 12.5})

    token = Path(__file__)  # any readable, non-empty file serves as a token here
    client = BankClient("http://bank.invalid", token, transport=httpx.MockTransport(handler))
    with pytest.raises(BankProtocolError, match="decimal string"):
        client.topup("order-0011-abcdef", "+38344111222", "vala", Decimal(1),
                     agreement_id="G1")


def test_amount_must_be_decimal(bank: FakeBankServer) -> None:
    client = make_client(bank)
    with pytest.raises(ValueError, match="Decimal"):
        client.topup("order-0012-abcdef", "+38344111222", "vala", 5.0,  # type: ignore[arg-type]
                     agreement_id="G1001")


def make_ca_and_server_cert(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl CLI)."""
    ca_key, ca_pem = tmp_path / "ca.key", tmp_path / "ca.pem"
    key, csr, pem = tmp_path / "srv.key", tmp_path / "srv.csr", tmp_path / "srv.pem"
    ext = tmp_path / "srv.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_pem, "-days", "2",
         "-subj", "/CN=Test Bank CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
         "-CAcreateserial", "-out", pem, "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=30)
    return ca_pem, pem, key


def test_tls_is_verified_against_the_configured_ca(tmp_path: Path) -> None:
    ca_pem, cert, key = make_ca_and_server_cert(tmp_path)
    with FakeBankServer(tmp_path / "bank", tls=(cert, key)) as bank:
        assert bank.url.startswith("https://")
        trusted = BankClient(bank.url, bank.token_file, ca_file=ca_pem, retries=0)
        assert trusted.changes(None, 5).cursor
        sleeps = Sleeps()
        # The system store does not know the bank's private CA: refused, and not retried.
        untrusted = BankClient(bank.url, bank.token_file, retries=3, sleep=sleeps)
        with pytest.raises(BankTLSError, match="TLS verification failed"):
            untrusted.changes(None, 5)
        assert sleeps.delays == []
