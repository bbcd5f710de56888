"""`appliance doctor` against a real fake modem on a pty and a real fake bank on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.fakebank.server import FakeBankServer
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from appliance.ops.snapshot import ModemFacts, snapshot_path, write_snapshot
from appliance.store.db import open_database


@dataclass
class Box:
    root: Path
    bank: FakeBankServer
    link: Path
    config: Path
    database: Path
    modems: list[FakeModemServer] = field(default_factory=list)

    def start_modem(self, config: ModemConfig | None = None) -> FakeModemServer:
        for old in self.modems:
            old.stop()
        fm = FakeModemServer(self.link, self.root / f"fm{len(self.modems)}",
                             config=config or ModemConfig()).start()
        self.modems.append(fm)
        return fm

    @property
    def modem(self) -> FakeModemServer:
        return self.modems[-1]

    def write_config(self, *, port: str | None = None, pin_file: str | None = None,
                     token_file: str | None = None, command_timeout: int = 2) -> None:
        pin = f'pin_file = "{pin_file}"\n' if pin_file else ""
        self.config.write_text(
            f'database = "{self.database}"\n'
            "[[modems]]\n"
            'name = "vala"\n'
            f'port = "{port or self.link}"\n'
            'operator = "vala"\n'
            f"command_timeout = {command_timeout}\n"
            f"{pin}"
            "[bank]\n"
            f'url = "{self.bank.url}"\n'
            f'token_file = "{token_file or self.bank.token_file}"\n'
            "connect_timeout = 2\n"
            "read_timeout = 5\n",
            encoding="utf-8",
        )


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    bank = FakeBankServer(tmp_path / "bank").start()
    state = tmp_path / "state"
    state.mkdir()
    database = state / "appliance.sqlite"
    open_database(database).close()
    # As the daemon leaves them (invariant 7), whatever the umask of this test process.
    state.chmod(0o700)
    database.chmod(0o600)
    b = Box(tmp_path, bank, tmp_path / "modem.pty", tmp_path / "appliance.toml", database)
    b.start_modem()
    b.write_config()
    try:
        yield b
    finally:
        for fm in b.modems:
            fm.stop()
        bank.close()


def doctor(config: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["doctor", "--config", str(config), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def failed(report: dict[str, Any]) -> set[str]:
    return {c["id"] for c in report["checks"] if c["status"] == "FAIL"}


# These boxes run no daemon, so doctor opens the modem itself, and a box nobody answers
# from is a failed check: the daemon row FAILs in each of them.
STOPPED = {"daemon"}


def test_healthy_box_is_all_green(box: Box) -> None:
    code, report = doctor(box.config)
    assert code == 1, report
    assert failed(report) == STOPPED
    assert report["ok"] is False
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    # (A developer's laptop may run ModemManager: that row is about the host, not the box.)
    assert {s for cid, s in statuses.items()
            if cid not in ("modemmanager", "daemon")} == {"OK"}, statuses
    for cid in ("config", "database.open", "database.integrity", "database.wal", "disk",
                "modem.vala.port", "modem.vala.at", "modem.vala.model", "modem.vala.pin",
                "modem.vala.imsi", "modem.vala.registration", "modem.vala.signal",
                "modem.vala.storage", "modem.vala.smsc", "bank.reachable", "bank.token",
                "bank.clock", "files.state_dir", "files.data", "files.token"):
        assert cid in statuses, cid
    r = rows(report)
    assert "FAKEMODEM" in r["modem.vala.model"]["detail"]
    assert "FM1.0.0" in r["modem.vala.model"]["detail"]
    assert "dBm" in r["modem.vala.signal"]["detail"]
    assert "Vala" in r["modem.vala.registration"]["detail"]
    assert r["modem.vala.smsc"]["detail"] == "+38344000100"


def test_table_output_has_the_four_columns(box: Box) -> None:
    result = CliRunner().invoke(main, ["doctor", "--config", str(box.config)])
    assert result.exit_code == 1, result.output  # no daemon runs
    for header in ("Check", "Status", "Detail", "What to do", "modem vala: signal", "OK",
                   "FAIL", "not running"):
        assert header in result.stdout


def test_sim_asks_for_a_pin(box: Box) -> None:
    box.start_modem(ModemConfig(pin="4321"))
    code, report = doctor(box.config)
    assert code == 1
    pin = rows(report)["modem.vala.pin"]
    assert pin["status"] == "FAIL"
    assert "SIM PIN" in pin["detail"]
    assert "sim-pins" in pin["advice"]  # where the PIN goes
    # The modem itself still answers and says what it is.
    assert rows(report)["modem.vala.at"]["status"] == "OK"
    assert rows(report)["modem.vala.model"]["status"] == "OK"


def test_sim_pin_from_the_pin_file(box: Box) -> None:
    box.start_modem(ModemConfig(pin="4321"))
    pin_file = box.root / "vala.pin"
    pin_file.write_text("4321\n")
    box.write_config(pin_file=str(pin_file))
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == STOPPED
    assert rows(report)["modem.vala.pin"]["status"] == "OK"


def test_wrong_pin_in_the_pin_file(box: Box) -> None:
    box.start_modem(ModemConfig(pin="4321"))
    pin_file = box.root / "vala.pin"
    pin_file.write_text("1111\n")
    box.write_config(pin_file=str(pin_file))
    code, report = doctor(box.config)
    assert code == 1
    pin = rows(report)["modem.vala.pin"]
    assert pin["status"] == "FAIL"
    assert str(pin_file) in pin["advice"]
    assert "PUK" in pin["advice"]  # never guess


def test_no_registration(box: Box) -> None:
    box.modem.fault("registration-lost")
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"modem.vala.registration"} | STOPPED
    reg = rows(report)["modem.vala.registration"]
    assert "not registered" in reg["detail"]
    assert "antenna" in reg["advice"]


@pytest.mark.parametrize(("rssi", "status"), [
    (14, "OK"),     # -113 + 2*14 = -85 dBm: good
    (13, "WARN"),   # -87 dBm: weak
    (7, "WARN"),    # -99 dBm: weak
])
def test_signal_levels(box: Box, rssi: int, status: str) -> None:
    dbm = -113 + 2 * rssi
    box.modem.fault("signal", value=rssi)
    got, report = doctor(box.config)
    sig = rows(report)["modem.vala.signal"]
    assert sig["status"] == status
    assert f"{dbm} dBm" in sig["detail"]
    assert failed(report) == STOPPED  # weak is a warning, not a failure
    assert got == 1
    if status != "OK":
        assert "antenna" in sig["advice"]


def test_weak_signal_below_minus_100_fails(box: Box) -> None:
    box.modem.fault("signal", value=5)  # -103 dBm
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"modem.vala.signal"} | STOPPED
    assert "-103 dBm" in rows(report)["modem.vala.signal"]["detail"]


def test_no_signal_at_all_fails(box: Box) -> None:
    box.modem.fault("signal", value=99)
    code, report = doctor(box.config)
    assert code == 1
    assert "modem.vala.signal" in failed(report)


def test_sim_changed_since_last_run(box: Box) -> None:
    code, report = doctor(box.config)
    assert failed(report) == STOPPED
    assert "first seen" in rows(report)["modem.vala.imsi"]["detail"]
    code, report = doctor(box.config)
    assert "same SIM" in rows(report)["modem.vala.imsi"]["detail"]
    box.start_modem(ModemConfig(imsi="221019999999999"))
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"modem.vala.imsi"} | STOPPED
    imsi = rows(report)["modem.vala.imsi"]
    assert "221019999999999" in imsi["detail"]
    assert "221011234567890" in imsi["detail"]
    assert "security" in imsi["advice"]
    # The swap is recorded: the next run sees the new SIM as the known one.
    code, report = doctor(box.config)
    assert failed(report) == STOPPED


def test_storage_full(box: Box) -> None:
    box.start_modem(ModemConfig(sm_capacity=2, me_capacity=2))
    box.modem.deliver("+38344123456", "B", storage="SM")
    box.modem.deliver("+38344123457", "B", storage="SM")
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"modem.vala.storage"} | STOPPED
    storage = rows(report)["modem.vala.storage"]
    assert "2/2" in storage["detail"]
    assert "journalctl" in storage["advice"]


def test_bank_down(box: Box) -> None:
    box.bank.set_fault("down", count=100)
    code, report = doctor(box.config)
    assert code == 1
    assert "bank.reachable" in failed(report)
    reach = rows(report)["bank.reachable"]
    assert "503" in reach["detail"]
    assert "bank" in reach["advice"].lower()
    assert rows(report)["bank.token"]["status"] == "WARN"  # not tested, not blamed


def test_bank_unreachable(box: Box) -> None:
    box.bank.stop()
    code, report = doctor(box.config)
    assert code == 1
    reach = rows(report)["bank.reachable"]
    assert reach["status"] == "FAIL"
    assert "curl" in reach["advice"]


def test_bank_refuses_the_token(box: Box) -> None:
    wrong = box.root / "wrong-token"
    wrong.write_text("not-the-token\n")
    wrong.chmod(0o600)
    box.write_config(token_file=str(wrong))
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"bank.token"} | STOPPED
    token = rows(report)["bank.token"]
    assert "401" in token["detail"]
    assert "bank-token" in token["advice"]


def test_token_file_missing(box: Box) -> None:
    box.write_config(token_file=str(box.root / "nope"))
    code, report = doctor(box.config)
    assert code == 1
    assert rows(report)["bank.token"]["status"] == "FAIL"
    assert "nope" in rows(report)["bank.token"]["detail"]


def test_modem_port_absent_advice_in_order(box: Box) -> None:
    box.write_config(port=str(box.root / "gsm-vala"))
    code, report = doctor(box.config)
    assert code == 1
    port = rows(report)["modem.vala.port"]
    assert port["status"] == "FAIL"
    assert "does not exist" in port["detail"]
    advice = port["advice"]
    steps = [advice.index("reopen"), advice.index("ATZ"), advice.index("power-cycle")]
    assert steps == sorted(steps)
    assert "Never a blind soft reset" in advice
    # No modem rows beyond the port: nothing else could be asked.
    assert not [c for c in rows(report) if c.startswith("modem.vala.") and c != "modem.vala.port"]


def test_modem_that_does_not_answer(box: Box) -> None:
    box.modem.fault("no-answer", count=1000)
    box.write_config(command_timeout=1)
    code, report = doctor(box.config)
    assert code == 1
    at = rows(report)["modem.vala.at"]
    assert at["status"] == "FAIL"
    assert "power-cycle" in at["advice"]


def test_missing_database_is_not_created(box: Box) -> None:
    box.database.unlink()
    code, report = doctor(box.config)
    assert code == 1
    db = rows(report)["database.open"]
    assert db["status"] == "WARN"
    assert "does not exist yet" in db["detail"]
    assert "systemctl start appliance" in db["advice"]
    assert not box.database.exists()  # doctor never creates it (root would own it)
    assert failed(report) == STOPPED


def test_corrupt_database_fails(box: Box) -> None:
    box.database.write_bytes(b"this is not a database at all" * 100)
    code, report = doctor(box.config)
    assert code == 1
    assert "database.open" in failed(report)
    assert "permissions" in rows(report)["database.open"]["advice"]


# --- while the daemon runs: facts from its snapshot, the port left alone ------------------


def _facts(port: str, **changes: Any) -> ModemFacts:
    base = ModemFacts(name="vala", port=port, healthy=True, checked_at=datetime.now(UTC),
                      manufacturer="huawei", model="E3372", firmware="22.200", imei="861234",
                      imsi="221011234567890", pin_state="READY", registration="home",
                      operator="Vala", signal_dbm=-71, storage_used=1, storage_total=30,
                      smsc="+38344000100")
    return replace(base, **changes)


def _snapshot(box: Box, facts: ModemFacts, *, age: float = 0) -> None:
    when = datetime.now(UTC) - timedelta(seconds=age)
    write_snapshot(snapshot_path(box.database), [facts], when, pid=os.getpid())


def test_uses_the_daemons_facts_and_leaves_the_port_alone(box: Box) -> None:
    # A regular file at the port: opening it as a modem could only fail; the snapshot
    # must be used instead.
    port = box.root / "held-port"
    port.write_text("")
    box.write_config(port=str(port))
    _snapshot(box, _facts(str(port), signal_dbm=-93))
    code, report = doctor(box.config)
    r = rows(report)
    assert r["daemon"]["status"] == "OK"
    assert str(os.getpid()) in r["daemon"]["detail"]
    assert r["modem.vala.at"]["status"] == "OK"
    assert r["modem.vala.signal"]["status"] == "WARN"
    assert "-93 dBm" in r["modem.vala.signal"]["detail"]
    assert "E3372" in r["modem.vala.model"]["detail"]
    assert code == 0


def test_daemon_reports_a_swapped_sim(box: Box) -> None:
    port = box.root / "held-port"
    port.write_text("")
    box.write_config(port=str(port))
    _snapshot(box, _facts(str(port), imsi="221010000000001",
                          imsi_previous="221011234567890"))
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"modem.vala.imsi"}


def test_daemon_has_the_modem_out_of_service(box: Box) -> None:
    port = box.root / "held-port"
    port.write_text("")
    box.write_config(port=str(port))
    _snapshot(box, _facts(str(port), healthy=False, last_error="liveness check failed"))
    code, report = doctor(box.config)
    assert code == 1
    at = rows(report)["modem.vala.at"]
    assert at["status"] == "FAIL"
    assert "liveness" in at["detail"]
    assert "power-cycle" in at["advice"]


def test_stale_snapshot_is_a_warning(box: Box) -> None:
    port = box.root / "held-port"
    port.write_text("")
    box.write_config(port=str(port))
    _snapshot(box, _facts(str(port), checked_at=datetime.now(UTC) - timedelta(minutes=10)),
              age=600)
    code, report = doctor(box.config)
    r = rows(report)
    assert r["daemon"]["status"] == "WARN"
    assert r["modem.vala.snapshot"]["status"] == "WARN"
    assert code == 0


def test_snapshot_of_a_dead_daemon_is_ignored(box: Box) -> None:
    # pid of a process that has exited: doctor opens the modem itself.
    write_snapshot(snapshot_path(box.database), [_facts(str(box.link), signal_dbm=-110)],
                   datetime.now(UTC), pid=_dead_pid())
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == STOPPED
    daemon = rows(report)["daemon"]
    assert "not running" in daemon["detail"]
    assert "systemctl enable --now appliance" in daemon["advice"]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- somebody else has the port -------------------------------------------------------------

_HOLD = ("import sys, os\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)\n"
         "print('open', flush=True)\n"
         "sys.stdin.read()\n")


def _holder(port: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(port), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "open"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait(10)


def test_port_held_by_another_program(box: Box) -> None:
    holder = _holder(box.link)  # as picocom or ModemManager would
    try:
        code, report = doctor(box.config)
    finally:
        _release(holder)
    assert code == 1
    port = rows(report)["modem.vala.port"]
    assert port["status"] == "FAIL"
    assert str(holder.pid) in port["detail"]
    assert "ModemManager" in port["advice"]


def test_port_held_by_a_daemon_that_has_not_written_facts_yet(box: Box) -> None:
    holder = _holder(box.link, "appliance", "run")  # looks like `appliance run`
    try:
        code, report = doctor(box.config)
    finally:
        _release(holder)
    port = rows(report)["modem.vala.port"]
    assert port["status"] == "WARN"
    assert str(holder.pid) in port["detail"]
    assert "wait" in port["advice"]
    daemon = rows(report)["daemon"]  # started, not stopped: no FAIL for it yet
    assert daemon["status"] == "WARN"
    assert str(holder.pid) in daemon["detail"]
    assert code == 0


# --- files with personal data (invariant 7) ------------------------------------------------


def _running(box: Box) -> None:
    """A live daemon's snapshot (this process's pid), so only the files can fail."""
    port = box.root / "held-port"
    port.write_text("")
    box.write_config(port=str(port))
    _snapshot(box, _facts(str(port)))


def _doctor_process(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from appliance.cli import main; main()",
                           "doctor", "--config", str(config)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_private_files_pass(box: Box) -> None:
    _running(box)
    code, report = doctor(box.config)
    assert code == 0, failed(report)
    r = rows(report)
    assert r["files.state_dir"]["status"] == "OK"
    assert f"{box.database.parent} 0700" in r["files.state_dir"]["detail"]
    assert f"{box.database} 0600" in r["files.data"]["detail"]
    assert r["files.token"]["status"] == "OK"


def test_a_world_readable_database_fails(box: Box) -> None:
    _running(box)
    box.database.chmod(0o644)
    result = _doctor_process(box.config)
    assert result.returncode == 1, result.stdout
    line = next(x for x in result.stdout.splitlines() if "files: personal data" in x)
    assert "FAIL" in line
    assert "0644" in result.stdout
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"files.data"}
    assert "chmod 600" in rows(report)["files.data"]["advice"]


def test_a_world_readable_state_dir_fails(box: Box) -> None:
    _running(box)
    box.database.parent.chmod(0o755)
    result = _doctor_process(box.config)
    assert result.returncode == 1, result.stdout
    line = next(x for x in result.stdout.splitlines() if "files: state directory" in x)
    assert "FAIL" in line
    assert "0755" in result.stdout
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"files.state_dir"}
    assert f"chmod 700 {box.database.parent}" in rows(report)["files.state_dir"]["advice"]


@pytest.mark.parametrize("mode", [0o640, 0o604], ids=["group", "world"])
def test_a_group_or_world_readable_backup_or_token_fails(box: Box, mode: int) -> None:
    _running(box)
    backups = box.database.parent / "backups"
    backups.mkdir(mode=0o700)
    backup = backups / "appliance-20261201T000000Z.sqlite"
    backup.write_bytes(b"")
    backup.chmod(mode)
    box.bank.token_file.chmod(mode)
    code, report = doctor(box.config)
    assert code == 1
    assert failed(report) == {"files.data", "files.token"}
    assert f"{backup} {mode:04o}" in rows(report)["files.data"]["detail"]
    assert f"chmod 600 {box.bank.token_file}" in rows(report)["files.token"]["advice"]


def test_help_documents_the_exit_status() -> None:
    result = CliRunner().invoke(main, ["doctor", "--help"])
    assert result.exit_code == 0
    for line in ("Exit status:", "0  every check passed", "1  a check failed",
                 "the daemon is not running", "2  bad usage or configuration"):
        assert line in result.stdout, line
