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
