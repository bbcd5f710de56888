"""install.sh / uninstall.sh into a throwaway root (DESTDIR): layout, idempotence, keeps."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNITS = ("appliance.service", "appliance-backup.service", "appliance-backup.timer")
RULE = "etc/udev/rules.d/99-appliance-modems.rules"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A copy of the parts of the source tree install.sh ships."""
    dst = tmp_path / "src"
    dst.mkdir()
    for name in ("install.sh", "uninstall.sh", "hardware.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dst / name)
    shutil.copytree(REPO / "systemd", dst / "systemd")
    (dst / "config").mkdir()
    shutil.copy2(REPO / "config/demo-bank.yaml", dst / "config/demo-bank.yaml")
    (dst / "docs").mkdir()
    if (REPO / "docs/operations.md").exists():
        shutil.copy2(REPO / "docs/operations.md", dst / "docs/operations.md")
    example = REPO / "config/appliance.example.toml"
    if example.exists():
        shutil.copy2(example, dst / "config/appliance.example.toml")
    else:  # until the config part ships its example: any file proves the keep-rules
        (dst / "config/appliance.example.toml").write_text('database = "/var/lib/appliance/db"\n')
    return dst


def run(script: Path, root: Path, *args: str,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DESTDIR": str(root)}
    proc = subprocess.run(["bash", str(script), *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def snapshot(root: Path) -> dict[str, tuple[int, str, int]]:
    """path -> (mode, content digest or link target, mtime_ns) of everything under root."""
    out: dict[str, tuple[int, str, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            digest = "-> " + os.readlink(path)
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = "dir"
        out[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), digest, st.st_mtime_ns)
    return out


def test_lays_out_everything(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = run(src / "install.sh", root)
    for unit in UNITS:
        shipped = (src / "systemd" / unit).read_text()
        assert (root / "etc/systemd/system" / unit).read_text() == shipped
    assert (root / RULE).read_text() == (src / "systemd/99-appliance-modems.rules").read_text()
    config = root / "etc/appliance/appliance.toml"
    assert config.read_text() == (src / "config/appliance.example.toml").read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "etc/appliance").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "etc/appliance/credentials").stat().st_mode) == 0o700
    assert (root / "etc/appliance/credentials/sim-pins").is_dir()
    # The state: the service user's alone (invariant 7), as the daemon keeps it.
    assert stat.S_IMODE((root / "var/lib/appliance").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "var/lib/appliance/backups").stat().st_mode) == 0o700
    assert os.readlink(root / "usr/local/bin/appliance") == "/opt/appliance/venv/bin/appliance"
    assert (root / "opt/appliance/share/uninstall.sh").exists()
    assert (root / "opt/appliance/share/demo-bank.yaml").exists()  # the rehearsal's bank
    if (src / "hardware.md").exists():
        assert (root / "opt/appliance/share/doc/hardware.md").exists()
    # It tells the operator what to do next, naming the files to edit.
    assert "Next steps" in proc.stdout
    assert "/etc/appliance/appliance.toml" in proc.stdout
    assert "/etc/appliance/credentials/bank-token" in proc.stdout
    assert "appliance doctor --config" in proc.stdout
    # Nothing escaped the staged root.
    assert not (tmp_path / "opt").exists()


def test_second_run_changes_nothing(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    run(src / "install.sh", root)
    before = snapshot(root)
    proc = run(src / "install.sh", root)
    assert snapshot(root) == before
    assert "Nothing to do" in proc.stdout


def test_never_overwrites_the_operators_config_or_udev_rule(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    run(src / "install.sh", root)
    config = root / "etc/appliance/appliance.toml"
    config.write_text("# edited by branch IT\n")
    rule = root / RULE
    rule.write_text(rule.read_text() + 'ENV{ID_SERIAL_SHORT}=="X1", SYMLINK+="gsm-vala"\n')
    mine = rule.read_text()
    # A newer version of the shipped files arrives.
    example = src / "config/appliance.example.toml"
    example.write_text(example.read_text() + "# newer example\n")
    shipped_rule = src / "systemd/99-appliance-modems.rules"
    shipped_rule.write_text(shipped_rule.read_text() + "# newer rule\n")
    proc = run(src / "install.sh", root)
    assert config.read_text() == "# edited by branch IT\n"
    assert rule.read_text() == mine
    assert (root / "etc/appliance/appliance.toml.dist").read_text() == example.read_text()
    assert Path(str(rule) + ".dist").read_text() == shipped_rule.read_text()
    assert "kept" in proc.stdout
    # and again: nothing more changes
    before = snapshot(root)
    run(src / "install.sh", root)
    assert snapshot(root) == before


def test_units_follow_prefix(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    run(src / "install.sh", root, "--prefix", "/srv/sms")
    service = (root / "etc/systemd/system/appliance.service").read_text()
    assert ("ExecStart=/srv/sms/venv/bin/appliance run --config /etc/appliance/appliance.toml"
            in service)
    assert "/opt/appliance" not in service
    backup = (root / "etc/systemd/system/appliance-backup.service").read_text()
    assert "ExecStart=/srv/sms/venv/bin/appliance backup" in backup
    assert (root / "srv/sms/share/doc").is_dir()
    assert os.readlink(root / "usr/local/bin/appliance") == "/srv/sms/venv/bin/appliance"
    # Its own uninstaller knows where it lives.
    uninstaller = root / "srv/sms/share/uninstall.sh"
    assert "PREFIX=/srv/sms\n" in uninstaller.read_text()
    run(uninstaller, root)
    assert not (root / "srv/sms").exists()
    assert not (root / "etc/systemd/system/appliance.service").exists()
    assert (root / "var/lib/appliance").is_dir()


def test_bad_arguments_exit_2(src: Path, tmp_path: Path) -> None:
    proc = run(src / "install.sh", tmp_path / "root", "--frobnicate", check=False)
    assert proc.returncode == 2
    assert "--frobnicate" in proc.stderr
    proc = run(src / "install.sh", tmp_path / "root", "--prefix", "relative/dir", check=False)
    assert proc.returncode == 2
    assert "--prefix" in proc.stderr


def test_uninstall_keeps_data_unless_purge(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    run(src / "install.sh", root)
    db = root / "var/lib/appliance/appliance.sqlite"
    db.write_bytes(b"precious")
    (root / "etc/appliance/credentials/bank-token").write_text("secret\n")
    proc = run(src / "uninstall.sh", root)
    for unit in UNITS:
        assert not (root / "etc/systemd/system" / unit).exists()
    assert not (root / RULE).exists()
    assert not (root / "opt/appliance").exists()
    assert not (root / "usr/local/bin/appliance").is_symlink()
    assert db.read_bytes() == b"precious"
    assert (root / "etc/appliance/appliance.toml").exists()
    assert (root / "etc/appliance/credentials/bank-token").exists()
    assert "--purge" in proc.stdout
    # Reinstalling on top of the kept data works and keeps it.
    run(src / "install.sh", root)
    assert db.read_bytes() == b"precious"
    run(src / "uninstall.sh", root, "--purge")
    assert not (root / "var/lib/appliance").exists()
    assert not (root / "etc/appliance").exists()


def test_help_describes_the_options(src: Path, tmp_path: Path) -> None:
    proc = run(src / "install.sh", tmp_path / "root", "--help")
    for word in ("--prefix", "--wheelhouse", "DESTDIR", "/opt/appliance", "dialout"):
        assert word in proc.stdout
    proc = run(src / "uninstall.sh", tmp_path / "root", "--help")
    assert "--purge" in proc.stdout
    assert "/var/lib/appliance" in proc.stdout
