"""Doctor's pure verdicts: thresholds and advice, no hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.ops import checks
from appliance.ops.checks import Status


@pytest.mark.parametrize(("dbm", "status"), [
    (-51, Status.OK), (-85, Status.OK), (-86, Status.WARN), (-100, Status.WARN),
    (-101, Status.FAIL), (-113, Status.FAIL), (None, Status.FAIL),
])
def test_signal_thresholds(dbm: int | None, status: Status) -> None:
    c = checks.signal_verdict("modem.x", "x", dbm)
    assert c.status is status
    assert c.id == "modem.x.signal"
    assert bool(c.advice) is (status is not Status.OK)


@pytest.mark.parametrize(("state", "status", "advice_word"), [
    ("READY", Status.OK, ""),
    ("SIM PIN", Status.FAIL, "sim-pins"),
    ("SIM PUK", Status.FAIL, "PUK"),
    ("NOT INSERTED (+CME ERROR: 10)", Status.FAIL, "Insert"),
    (None, Status.FAIL, "Insert"),
])
def test_pin_states(state: str | None, status: Status, advice_word: str) -> None:
    c = checks.pin_verdict("m", "m", state, None)
    assert c.status is status
    assert advice_word in c.advice


def test_pin_refused_names_the_pin_file() -> None:
    c = checks.pin_verdict("m", "m", "SIM PIN", "/run/credentials/appliance.service/sim-pin_v")
    assert "/run/credentials/appliance.service/sim-pin_v" in c.advice


@pytest.mark.parametrize(("state", "expected"), [
    ("home", "home"), ("1", "home"), (5, "roaming"), ("2", "searching"), ("3", "denied"),
    ("0", "not_registered"), ("registered_home", "home"), (None, "unknown"), ("zzz", "unknown"),
])
def test_normalize_registration(state: object, expected: str) -> None:
    assert checks.normalize_registration(state) == expected


def test_normalize_registration_of_the_wrappers_type() -> None:
    from appliance.modem.types import Registration

    assert checks.normalize_registration(Registration(5, True, True)) == "roaming"
    assert checks.normalize_registration(Registration(1, True, False)) == "home"


@pytest.mark.parametrize(("state", "status"), [
    ("home", Status.OK), ("roaming", Status.WARN), ("denied", Status.FAIL),
    ("searching", Status.FAIL), ("unknown", Status.FAIL),
])
def test_registration(state: str, status: Status) -> None:
    assert checks.registration_verdict("m", "m", state, "Vala").status is status


@pytest.mark.parametrize(("used", "total", "status"), [
    (0, 20, Status.OK), (15, 20, Status.OK), (16, 20, Status.WARN), (20, 20, Status.FAIL),
    (21, 20, Status.FAIL), (None, None, Status.WARN), (3, 0, Status.WARN),
])
def test_storage(used: int | None, total: int | None, status: Status) -> None:
    assert checks.storage_verdict("m", "m", used, total).status is status


def test_imsi() -> None:
    assert checks.imsi_verdict("m", "m", "1", None).status is Status.OK
    assert checks.imsi_verdict("m", "m", "1", "1").status is Status.OK
    swapped = checks.imsi_verdict("m", "m", "2", "1")
    assert swapped.status is Status.FAIL
    assert "security" in swapped.advice
    assert checks.imsi_verdict("m", "m", None, "1").status is Status.WARN


@pytest.mark.parametrize(("skew", "status"), [
    (0.0, Status.OK), (-30.0, Status.OK), (31.0, Status.WARN), (-119.0, Status.WARN),
    (121.0, Status.FAIL), (-3600.0, Status.FAIL), (None, Status.WARN),
])
def test_clock_skew(skew: float | None, status: Status) -> None:
    c = checks.skew_verdict(skew)
    assert c.status is status
    if status is not Status.OK and skew is not None:
        assert "timedatectl" in c.advice


def test_disk() -> None:
    mib = 1024 * 1024
    assert checks.disk_verdict("/", 50 * mib, 1000 * mib).status is Status.FAIL
    assert checks.disk_verdict("/", 300 * mib, 1000 * mib).status is Status.WARN
    ok = checks.disk_verdict("/", 900 * mib, 1000 * mib)
    assert ok.status is Status.OK
    assert "90%" in ok.detail


def test_database_verdicts() -> None:
    assert checks.integrity_verdict("ok").status is Status.OK
    bad = checks.integrity_verdict("*** in database main ***\nPage 3 is never used")
    assert bad.status is Status.FAIL
    assert "\n" not in bad.detail
    assert "backups" in bad.advice
    assert checks.wal_verdict("wal").status is Status.OK
    assert checks.wal_verdict("delete").status is Status.FAIL


def test_exit_code_only_fails_on_fail() -> None:
    ok = checks.row("a", "a", Status.OK, "")
    warn = checks.row("b", "b", Status.WARN, "")
    fail = checks.row("c", "c", Status.FAIL, "")
    assert checks.exit_code([ok, warn]) == 0
    assert checks.exit_code([ok, fail, warn]) == 1


def test_texts_render_in_albanian(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LANG", "sq")
    c = checks.port_absent("modem.v", "v", "/dev/gsm-vala")
    assert "nuk ekziston" in c.detail
    assert "rihape" in c.advice
    assert "AT+CFUN=1,1" in c.advice


def test_modemmanager_check_reads_process_names(tmp_path: Path) -> None:
    from appliance.ops.doctor import modemmanager_check

    for pid, comm in ((1, "systemd"), (412, "ModemManager"), (9, "bash")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    (tmp_path / "self").mkdir()
    c = modemmanager_check(tmp_path)
    assert c.status is Status.WARN
    assert "412" in c.detail
    assert "ModemManager" in c.advice
    (tmp_path / "412" / "comm").write_text("sleep\n")
    assert modemmanager_check(tmp_path).status is Status.OK
