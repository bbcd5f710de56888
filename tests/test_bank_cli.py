"""`appliance fake-bank serve|movement|fault` (DESIGN §9), with real processes and HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from appliance.bank.client import BankClient, BankUnavailable
from appliance.cli import main
from appliance.fakebank.server import FakeBankServer
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fake-bank", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def all_movements(client: BankClient) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    cursor = None
    while True:
        page = client.changes(cursor, 500)
        found.update({m.id: m.amount for m in page.movements})
        cursor = page.cursor
        if not page.more:
            return found


def test_movement_without_a_running_bank_goes_into_its_ledger(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out, _err = run("movement", "--state-dir", str(state), "--account", "A1001",
                          "--amount", "-12.50", "--type", "card_payment")
    assert code == 0
    movement_id = out.strip()
    with FakeBankServer(state) as bank:
        movements = all_movements(BankClient(bank.url, bank.token_file))
    assert movements[movement_id] == Decimal("-12.50")


def test_movement_with_a_running_bank_goes_through_its_admin_endpoint(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeBankServer(state) as bank:
        before = bank.app.requests
        code, out, _err = run("movement", "--state-dir", str(state), "--account", "A2001",
                              "--amount", "1500", "--type", "transfer_in")
        assert code == 0
        assert bank.app.requests - before == 2  # health check + the booking
        movements = all_movements(BankClient(bank.url, bank.token_file))
        assert movements[out.strip()] == Decimal("1500.00")


def test_movement_bad_arguments_exit_2_naming_the_argument(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, _out, err = run("movement", "--state-dir", str(state), "--account", "A1001",
                          "--amount", "12.345", "--type", "x")
    assert code == 2
    assert err.startswith("--amount:")
    code, _out, err = run("movement", "--state-dir", str(state), "--account", "NOPE",
                          "--amount", "1", "--type", "x")
    assert code == 2
    assert err.startswith("--account:")


def test_fault_reaches_the_running_bank(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, _out, err = run("fault", "--state-dir", str(state), "down")
    assert code == 1
    assert "No fake bank" in err
    with FakeBankServer(state) as bank:
        code, out, _err = run("fault", "--state-dir", str(state), "500", "--count", "2")
        assert code == 0
        assert "error500" in out
        assert bank.app.fault() == {"mode": "error500", "count": 2, "delay": 0.0}
        code, _out, err = run("fault", "--state-dir", str(state), "sideways")
        assert code == 2
        assert err.startswith("MODE:")
        assert run("fault", "--state-dir", str(state), "none")[0] == 0
        assert bank.app.fault()["mode"] == "none"


def test_serve_runs_until_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from appliance.cli import main; main()",
         "fake-bank", "serve", "--state-dir", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        info_file = state / "fakebank.json"
        wait_for(info_file.exists, timeout=20, what="the fake bank's address file")
        info = json.loads(info_file.read_text())
        client = BankClient(info["url"], Path(info["token_file"]))
        assert client.changes(None, 5).cursor
        # The CLI books into the served bank; the served bank shows it at once.
        code, out, _err = run("movement", "--state-dir", str(state), "--account", "A5001",
                              "--amount", "-7000", "--type", "transfer_out")
        assert code == 0
        assert all_movements(client)[out.strip()] == Decimal("-7000.00")
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert info["url"] in stdout
    assert not info_file.exists()


def test_fault_refuse_takes_the_bank_link_down_for_a_while(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeBankServer(state) as bank:
        client = BankClient(bank.url, bank.token_file, retries=0, connect_timeout=1.0)
        code, out, _err = run("fault", "--state-dir", str(state), "refuse", "--delay", "1.5")
        assert code == 0
        assert "refuse" in out

        def refused() -> bool:
            try:
                client.changes(None, 1)
            except BankUnavailable as exc:
                return "connection failed" in str(exc)
            return False

        wait_for(refused, timeout=10, what="connections refused")
        # Meanwhile the CLI books straight into the ledger; the bank shows it once back.
        code, out, _err = run("movement", "--state-dir", str(state), "--account", "A1001",
                              "--amount", "-3.00", "--type", "card_payment")
        assert code == 0
        wait_for(lambda: not refused(), timeout=10, what="the bank listening again")
        assert all_movements(client)[out.strip()] == Decimal("-3.00")
        # In-process, `none` ends a refusal early.
        bank.set_fault("refuse", delay=60)
        wait_for(refused, timeout=10, what="connections refused again")
        bank.set_fault("none")
        assert client.changes(None, 1).cursor


def test_cards_lists_the_seed_without_a_bank_and_creates_nothing(tmp_path: Path) -> None:
    state = tmp_path / "none-yet"
    code, out, _err = run("cards", "--state-dir", str(state), "--json")
    assert code == 0
    cards = [json.loads(line) for line in out.splitlines()]
    by_id = {c["id"]: c for c in cards}
    assert by_id["K1001"] == {"id": "K1001", "customer_id": "C1001",
                              "customer": "Arben Krasniqi", "last4": "4821",
                              "status": "active", "blocked_at": None,
                              "phones": ["+38344123456"]}
    assert by_id["K3002"]["status"] == "blocked"
    assert not state.exists()
    code, out, _err = run("cards", "--state-dir", str(state))
    assert code == 0
    assert "K1001  ***4821  active" in out


def test_cards_shows_a_block_made_at_the_running_bank(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeBankServer(state) as bank:
        BankClient(bank.url, bank.token_file).block_card("cli-0001-block", "G2001", "5502")
        code, out, _err = run("cards", "--state-dir", str(state), "--json")
        assert code == 0
        k2001 = next(json.loads(x) for x in out.splitlines() if '"K2001"' in x)
        assert k2001["status"] == "blocked"
        assert k2001["blocked_at"]


def test_sim_swap_reaches_the_running_bank_and_the_feed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeBankServer(state) as bank:
        client = BankClient(bank.url, bank.token_file)
        cursor = client.changes(None, 5000).cursor
        code, out, _err = run("sim-swap", "--state-dir", str(state), "--phone", "+38344123456",
                              "--at", "2026-12-01T03:00:00+00:00")
        assert code == 0
        assert "G1001" in out
        page = client.changes(cursor, 500)
        assert [(a.id, a.sim_changed_at.isoformat() if a.sim_changed_at else None)
                for a in page.agreements] == [("G1001", "2026-12-01T03:00:00+00:00")]


def test_sim_swap_without_a_bank_goes_into_the_ledger(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, _out, err = run("sim-swap", "--state-dir", str(state), "--phone", "+38349234567")
    assert code == 0
    assert "No fake bank is running" in err
    with FakeBankServer(state) as bank:
        agreements = {a.id: a for a in BankClient(bank.url, bank.token_file)
                      .changes(None, 5000).agreements}
    assert agreements["G2001"].sim_changed_at is not None


def test_sim_swap_bad_arguments_exit_2_and_create_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for args, start in ((["--phone", "044123456"], "--phone:"),
                        (["--phone", "+38344000000"], "--phone:"),
                        (["--phone", "+38344123456", "--at", "yesterday"], "--at:"),
                        (["--phone", "+38344123456", "--at", "2026-12-01T03:00:00"], "--at:")):
        code, _out, err = run("sim-swap", "--state-dir", str(state), *args)
        assert code == 2, args
        assert len(err.splitlines()) == 1
        assert err.startswith(start), err
    assert not state.exists()


def test_the_fake_bank_and_the_client_share_no_code() -> None:
    import ast

    package = ROOT / "appliance"

    def imports(path: Path) -> set[str]:
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        return found

    for path in (package / "fakebank").rglob("*.py"):
        assert not any(n.startswith("appliance.bank") for n in imports(path)), path
    for path in (package / "bank").rglob("*.py"):
        assert not any(n.startswith("appliance.fakebank") for n in imports(path)), path
    assert sorted(p.name for p in (package / "bank").glob("fake*.py")) == []
