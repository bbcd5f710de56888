"""Acceptance: the fake bank as an integrator curls it (docs/bank-api.md).

Requests no client of the contract sends still get the documented error body.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from appliance.fakebank.server import FakeBankServer


def test_unknown_path_and_wrong_method_have_their_own_codes(tmp_path: Path) -> None:
    with FakeBankServer(tmp_path / "bank") as bank:
        auth = {"Authorization": f"Bearer {bank.token}"}
        with httpx.Client(base_url=bank.url, headers=auth, timeout=10) as http:
            missing = http.get("/v1/nope")
            assert missing.status_code == 404
            assert missing.json()["error"] == "not_found"
            assert missing.headers["Date"]
            wrong = http.post("/v1/changes")
            assert wrong.status_code == 405
            body = wrong.json()
            assert body["error"] == "method_not_allowed"
            assert set(body) == {"error", "message"}
            assert wrong.headers["Date"]


def test_movement_with_no_bank_running_says_where_it_went(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from appliance.cli import main

    state = tmp_path / "typo-state"
    args = ["fake-bank", "movement", "--state-dir", str(state), "--account", "A1001",
            "--amount", "-12.50", "--type", "card_payment"]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0
    assert first.stdout.strip().startswith("MV")  # stdout: the id alone, for scripts
    assert "No fake bank is running" in first.stderr
    assert "new: is --state-dir the right one?" in first.stderr
    again = CliRunner().invoke(main, args, catch_exceptions=False)
    assert again.exit_code == 0
    assert "No fake bank is running" in again.stderr
    assert "new:" not in again.stderr  # the ledger exists now


def test_movement_error_with_no_bank_running_is_still_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from appliance.cli import main

    args = ["fake-bank", "movement", "--state-dir", str(tmp_path / "s"), "--account", "NOPE",
            "--amount", "-1", "--type", "x"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["--account: the fake bank has no account 'NOPE'"]


def test_doctor_does_not_blame_the_date_header_of_an_unreachable_bank() -> None:
    import socket
    from datetime import UTC, datetime

    from appliance.config import BankSettings
    from appliance.ops.doctor import bank_checks

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bank = BankSettings(url=f"http://127.0.0.1:{port}", connect_timeout=2, read_timeout=2)
    by_id = {c.id: c for c in bank_checks(bank, datetime.now(UTC))}
    assert by_id["bank.reachable"].status.name == "FAIL"
    clock = by_id["bank.clock"]
    assert clock.status.name == "WARN"
    assert "unreachable" in clock.detail
    assert "Date header" not in clock.detail


def test_movement_to_an_unknown_account_outside_a_demo_dir_creates_nothing(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", "from appliance.cli import main; main()", "fake-bank",
         "movement", "--account", "NOPE", "--amount", "-1", "--type", "card_payment"],
        cwd=work, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["--account: the fake bank has no account 'NOPE'"]
    assert result.stdout == ""
    assert list(work.iterdir()) == []  # no ./demo-state, no ledger


def test_movement_of_an_unlisted_type_is_booked_with_a_note(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from appliance.cli import main

    state = tmp_path / "s"
    args = ["fake-bank", "movement", "--state-dir", str(state), "--account", "A1001",
            "--amount", "-1", "--type"]
    listed = CliRunner().invoke(main, [*args, "atm_withdrawal"], catch_exceptions=False)
    assert listed.exit_code == 0
    assert "documented codes" not in listed.stderr
    unlisted = CliRunner().invoke(main, [*args, "crypto_swap"], catch_exceptions=False)
    assert unlisted.exit_code == 0
    assert unlisted.stdout.strip().startswith("MV")
    assert "'crypto_swap' is not one of the bank's documented codes" in unlisted.stderr
