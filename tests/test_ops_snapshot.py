"""The daemon's health snapshot file, credential paths, and facts from a real (fake) modem."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from appliance.modem.wrapper import Modem
from appliance.ops.doctor import credential_path
from appliance.ops.snapshot import (
    ModemFacts,
    collect_facts,
    port_holders,
    read_snapshot,
    snapshot_path,
    write_snapshot,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    path = snapshot_path(tmp_path / "appliance.sqlite")
    assert path == tmp_path / "health.json"
    facts = ModemFacts("vala", "/dev/gsm-vala", True, NOW, signal_dbm=-71, imsi="2210")
    write_snapshot(path, [facts], NOW, pid=4242, started_at=NOW)
    snap = read_snapshot(path)
    assert snap is not None
    assert snap.pid == 4242
    assert snap.written_at == NOW
    assert snap.started_at == NOW
    assert snap.modems == {"vala": facts}
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # the service user's alone (I7)
    write_snapshot(path, [], NOW, pid=1)
    again = read_snapshot(path)
    assert again is not None
    assert again.modems == {}
    assert [p.name for p in tmp_path.iterdir()] == ["health.json"]  # no temp files left


def test_unreadable_snapshots_are_none(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    assert read_snapshot(path) is None
    path.write_text("{not json")
    assert read_snapshot(path) is None
    path.write_text(json.dumps({"pid": 1, "written_at": "2026-11-27T12:00:00"}))  # naive time
    assert read_snapshot(path) is None
    # Unknown keys from a newer daemon are ignored, not fatal.
    path.write_text(json.dumps({"pid": 1, "written_at": NOW.isoformat(), "modems": {
        "v": {"name": "v", "port": "p", "healthy": True, "checked_at": NOW.isoformat(),
              "new_fact": 1}}}))
    snap = read_snapshot(path)
    assert snap is not None
    assert snap.modems["v"].port == "p"


def test_credential_paths_fall_back_to_the_sources(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    store = tmp_path / "etc"
    assert credential_path(run_dir / "bank-token", store, run_dir) == store / "bank-token"
    assert (credential_path(run_dir / "sim-pin_vala", store, run_dir)
            == store / "sim-pins" / "vala")
    run_dir.mkdir()
    (run_dir / "bank-token").write_text("t")
    assert credential_path(run_dir / "bank-token", store, run_dir) == run_dir / "bank-token"
    other = tmp_path / "elsewhere" / "token"
    assert credential_path(other, store, run_dir) == other


def test_collect_facts_from_a_modem_on_a_pty(tmp_path: Path) -> None:
    link = tmp_path / "modem.pty"
    config = ModemConfig(imsi="221019876543210", sm_capacity=3, me_capacity=50, signal=10)
    with FakeModemServer(link, tmp_path / "fm", config=config) as fm:
        fm.deliver("+38344123456", "B", storage="SM")
        fm.deliver("+38344123457", "BK", storage="SM")
        modem = Modem(str(link), command_timeout=3, name="vala")
        modem.open()
        try:
            assert port_holders(str(link)) == []  # our own process is not "another"
            facts = collect_facts("vala", str(link), modem, now=NOW,
                                  previous_imsi="221011111111111")
        finally:
            modem.close()
    assert facts.healthy is True
    assert facts.model == "FM-1 GSM"
    assert facts.firmware == "FM1.0.0"
    assert facts.imsi == "221019876543210"
    assert facts.imsi_previous == "221011111111111"  # a swapped SIM travels with the facts
    assert facts.pin_state == "READY"
    assert facts.registration == "home"
    assert facts.operator == "Vala"
    assert facts.signal_dbm == -113 + 2 * 10
    # The fullest storage is the one reported: SM 2/3, not ME 0/50.
    assert (facts.storage_used, facts.storage_total) == (2, 3)
    assert facts.smsc == "+38344000100"
    assert facts.last_error is None


def test_port_holders_sees_another_process(tmp_path: Path) -> None:
    target = tmp_path / "device"
    target.write_text("")
    code = "import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nprint('open', flush=True)\n" \
        "sys.stdin.read()\n"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "open"
        assert port_holders(str(target)) == [proc.pid]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    assert port_holders(str(target)) == []
