"""Invariant 7 outside systemd: `appliance run` and `appliance backup` started from a shell
with umask 022 (a person by hand) keep every file with personal data the service user's
alone: the state dir 0700, the database, its -wal/-shm, the snapshot, logs, backups 0600."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.store.db import open_database
from tests.conftest import Fakes, assert_logs_masked, config_toml
from tests.helpers import wait_for

CLI = [sys.executable, "-c", "from appliance.cli import main; main()"]
LOOSE = 0o022  # the usual login shell's umask: files 0644, dirs 0755


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_LANG")}


def _loose_leftovers(state: Path) -> list[Path]:
    """What an earlier start under umask 022 (before this fix) left: all world-readable."""
    old = os.umask(LOOSE)
    try:
        open_database(state / "appliance.sqlite").close()
        (state / "backups").mkdir()
        backup = state / "backups" / "appliance-20261130T020000Z.sqlite"
        backup.write_bytes(b"SQLite format 3\0")
        log = state / "appliance.log"
        log.write_text("an old log line\n", encoding="utf-8")
    finally:
        os.umask(old)
    files = [state / "appliance.sqlite", backup, log]
    assert {mode(p) for p in files} == {0o644}
    assert mode(state) == mode(state / "backups") == 0o755
    return files


@pytest.mark.parametrize("leftovers", [False, True], ids=["fresh", "left-by-a-loose-start"])
def test_run_started_with_umask_022_keeps_personal_data_private(
        fakes: Fakes, tmp_path: Path, leftovers: bool) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # as `mkdir` under umask 022 makes it
    old_files = _loose_leftovers(state) if leftovers else []
    config = tmp_path / "appliance.toml"
    config.write_text(config_toml(state, fakes.bank.url, fakes.bank.token_file,
                                  fakes.modem_link), encoding="utf-8")
    out = tmp_path / "run.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=sink,
                                stderr=subprocess.STDOUT, env=_env(), umask=LOOSE)
    try:
        wait_for((state / "health.json").exists, timeout=30, what="the daemon's snapshot")
        # It answers a customer, so the database and its WAL hold personal data now.
        fakes.deliver("+38344123456", "B")
        fakes.wait_replies("+38344123456", timeout=30)
        db = state / "appliance.sqlite"
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists()
        assert shm.exists()
        assert mode(state) == 0o700
        for path in (db, wal, shm, state / "health.json", *old_files):
            assert mode(path) == 0o600, f"{path.name}: {mode(path):04o}"
        if leftovers:
            assert mode(state / "backups") == 0o700
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, out.read_text(encoding="utf-8")
    assert_logs_masked(out)


def test_backup_by_hand_with_umask_022_is_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = state / "appliance.sqlite"
    open_database(db).close()
    db.chmod(0o600)
    config = tmp_path / "appliance.toml"
    config.write_text(f'database = "{db}"\n[[modems]]\nname = "v"\nport = "/dev/x"\n'
                      'operator = "vala"\n[bank]\nurl = "https://bank.example"\n',
                      encoding="utf-8")
    result = subprocess.run([*CLI, "backup", "--config", str(config)], capture_output=True,
                            text=True, timeout=60, check=False, env=_env(), umask=LOOSE)
    assert result.returncode == 0, result.stderr
    backups = state / "backups"
    assert mode(backups) == 0o700
    (copy,) = backups.iterdir()
    assert mode(copy) == 0o600


@pytest.mark.parametrize("unit", ["appliance.service", "appliance-backup.service"])
def test_the_units_agree_with_what_the_box_keeps(unit: str) -> None:
    # systemd resets StateDirectory's mode at each start: a wider mode there would be
    # tightened by the daemon and widened again by the next start, and doctor would FAIL.
    lines = (Path(__file__).resolve().parents[1] / "systemd" / unit).read_text().splitlines()
    assert "StateDirectoryMode=0700" in lines
    assert "UMask=0077" in lines
