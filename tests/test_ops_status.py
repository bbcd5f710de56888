"""`appliance status` over a real SQLite file with messages in every state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.config import load
from appliance.ops.snapshot import ModemFacts, snapshot_path, write_snapshot
from appliance.ops.status import gather_status, human_age
from appliance.store import queries
from appliance.store.db import open_database

# 10:00 in Kosovo (UTC+1 in November): "today" began at 23:00 UTC the day before.
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db = tmp_path / "appliance.sqlite"
    path = tmp_path / "appliance.toml"
    path.write_text(
        f'database = "{db}"\n'
        '[[modems]]\nname = "vala"\nport = "/dev/gsm-vala"\noperator = "vala"\n'
        '[[modems]]\nname = "ipko"\nport = "/dev/gsm-ipko"\noperator = "ipko"\n'
        '[bank]\nurl = "https://bank.example"\n')
    database = open_database(db)
    try:
        _fill(NOW)
    finally:
        database.close()
    return path


def _fill(now: datetime) -> None:
    def inbound(n: int, minutes_ago: float, state: str) -> None:
        queries.store_inbound(modem="vala", pdu=f"00{n:04d}", sender="+38344123456",
                              smsc_time=now - timedelta(minutes=minutes_ago),
                              received_at=now - timedelta(minutes=minutes_ago), state=state)

    inbound(1, 12 * 60, "handled")      # yesterday, local time
    inbound(2, 30, "handled")
    inbound(3, 7, "stored")             # oldest pending: 7 minutes
    inbound(4, 2, "waiting_parts")
    for i in range(3):
        queries.enqueue_outbox(f"+3834412345{i}", "Bilanci", "reply",
                               now - timedelta(minutes=20 - i))
    claimed = queries.claim_next_outbox(set(), now - timedelta(minutes=15), "vala")
    assert claimed is not None
    assert queries.mark_sent(claimed.id, [7], now - timedelta(minutes=14))
    queries.set_last_sync_at(now - timedelta(seconds=95))
    queries.record_modem_identity("vala", "221011234567890", "861234", now)


def test_gathers_counts_ages_sync_and_today(config: Path) -> None:
    settings = load(config)
    data = gather_status(settings, NOW)
    assert data["inbox"]["by_state"]["handled"] == 2
    assert data["inbox"]["by_state"]["stored"] == 1
    assert data["inbox"]["by_state"]["waiting_parts"] == 1
    assert data["inbox"]["pending"] == 2
    assert data["inbox"]["oldest_pending_seconds"] == 7 * 60
    assert data["outbox"]["by_state"]["queued"] == 2
    assert data["outbox"]["by_state"]["sent"] == 1
    assert data["outbox"]["oldest_queued_seconds"] == 19 * 60
    assert data["orders"]["pending"] == 0
    assert data["last_sync"]["age_seconds"] == 95
    assert data["today"]["received"] == 3  # the 12-hours-ago one was yesterday (local)
    assert data["today"]["sent"] == 1
    assert data["daemon"]["running"] is False
    names = [m["name"] for m in data["modems"]]
    assert names == ["vala", "ipko"]
    assert data["modems"][0]["last_seen"] is not None
    assert data["modems"][0]["healthy"] is None  # no daemon: no live facts


def test_modem_health_from_the_daemons_snapshot(config: Path) -> None:
    settings = load(config)
    facts = ModemFacts(name="vala", port="/dev/gsm-vala", healthy=True, checked_at=NOW,
                       signal_dbm=-77, registration="home", operator="Vala",
                       storage_used=3, storage_total=30)
    down = ModemFacts(name="ipko", port="/dev/gsm-ipko", healthy=False, checked_at=NOW,
                      last_error="port vanished")
    write_snapshot(snapshot_path(settings.database), [facts, down], NOW, pid=os.getpid())
    data = gather_status(settings, NOW + timedelta(seconds=12))
    assert data["daemon"] == {"running": True, "pid": os.getpid(), "snapshot_age_seconds": 12}
    vala, ipko = data["modems"]
    assert vala["healthy"] is True
    assert vala["signal_dbm"] == -77
    assert vala["storage_used"] == 3
    assert ipko["healthy"] is False
    assert ipko["last_error"] == "port vanished"


def test_json_and_table_through_the_command(config: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 1, result.output  # no daemon runs (the report still prints)
    data = json.loads(result.stdout)
    assert data["outbox"]["by_state"]["queued"] == 2
    assert set(data) >= {"inbox", "outbox", "orders", "last_sync", "today", "daemon", "modems"}
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1, result.output
    for word in ("Inbox", "Outbox", "Orders", "waiting_parts", "Last bank sync", "Today",
                 "Modems", "vala", "ipko", "Daemon: not running"):
        assert word in result.stdout, word


def test_status_never_creates_a_database(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    db = tmp_path / "missing.sqlite"
    path.write_text(f'database = "{db}"\n[[modems]]\nname = "v"\nport = "/dev/x"\n'
                    'operator = "vala"\n[bank]\nurl = "https://bank.example"\n')
    result = CliRunner().invoke(main, ["status", "--config", str(path)])
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0, "0s"), (59, "59s"), (61, "1m 01s"), (3600, "1h 00m"), (90000, "1d 1h"),
])
def test_human_age(seconds: int | None, text: str) -> None:
    assert human_age(seconds) == text


def _status_process(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from appliance.cli import main; main()",
                           "status", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("as_json", [False, True])
def test_exit_status_says_whether_the_daemon_runs(config: Path, as_json: bool) -> None:
    args = ["--json"] if as_json else []
    stopped = _status_process(config, *args)
    assert stopped.returncode == 1, stopped.stderr
    assert stopped.stderr == ""  # not an error: the full report, and a failed check
    if as_json:
        assert json.loads(stopped.stdout)["daemon"]["running"] is False
    else:
        assert "Daemon: not running" in stopped.stdout
    # A live daemon's snapshot (this process stands in for it): 0.
    facts = ModemFacts(name="vala", port="/dev/gsm-vala", healthy=True,
                       checked_at=datetime.now(UTC))
    write_snapshot(snapshot_path(load(config).database), [facts], datetime.now(UTC),
                   pid=os.getpid())
    running = _status_process(config, *args)
    assert running.returncode == 0, running.stdout + running.stderr
    if not as_json:
        assert "Daemon: running" in running.stdout


def test_help_documents_the_exit_status() -> None:
    result = CliRunner().invoke(main, ["status", "--help"])
    assert result.exit_code == 0
    assert "Exit status:" in result.stdout
    for line in ("0  the daemon is running", "1  the daemon is not running",
                 "2  bad usage or configuration"):
        assert line in result.stdout, line
