"""The systemd units pass `systemd-analyze verify`; the udev rule is well-formed and complete."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "systemd"
UNITS = ("appliance.service", "appliance-backup.service", "appliance-backup.timer")


def staged_units(tmp_path: Path) -> list[Path]:
    """Copies of the units whose ExecStart names a real executable (verify checks it)."""
    exe = tmp_path / "bin" / "appliance"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    out = []
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/opt/appliance/venv/bin/appliance", str(exe))
        (unit_dir / name).write_text(text)
        out.append(unit_dir / name)
    return out


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (scripts/test installs systemd)"
    return subprocess.run([analyze, "verify", *map(str, paths)], capture_output=True,
                          text=True, timeout=60, check=False)


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_units_verify_clean(tmp_path: Path) -> None:
    proc = verify(staged_units(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr  # no warnings either


def test_verify_does_catch_a_broken_unit(tmp_path: Path) -> None:
    # Proves the check above can fail: the same unit with a typo in a setting name.
    units = staged_units(tmp_path)
    service = units[0]
    service.write_text(service.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    proc = verify([service])
    assert "WatchdogSecs" in proc.stderr


def test_verify_catches_a_missing_executable(tmp_path: Path) -> None:
    unit = tmp_path / "appliance.service"
    unit.write_text((SYSTEMD / "appliance.service").read_text().replace(
        "/opt/appliance/venv/bin/appliance", str(tmp_path / "nope")))
    proc = verify([unit])
    assert proc.returncode != 0


def test_service_is_notify_watchdog_restart_hardened() -> None:
    s = unit_settings("appliance.service")
    assert s["Type"] == ["notify"]
    assert s["ExecStart"][0].endswith("appliance run --config /etc/appliance/appliance.toml")
    assert s["Restart"] == ["on-failure"]
    assert s["RestartPreventExitStatus"] == ["2"]  # a bad config is not retried
    assert s["WatchdogSec"]
    assert s["StateDirectory"] == ["appliance"]
    assert s["User"] == ["appliance"]
    assert s["SupplementaryGroups"] == ["dialout"]
    creds = s["LoadCredential"]
    assert "bank-token:/etc/appliance/credentials/bank-token" in creds
    assert "sim-pin:/etc/appliance/credentials/sim-pins" in creds
    for key, value in {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "NoNewPrivileges": "yes", "DevicePolicy": "closed",
        "ReadWritePaths": "/var/lib/appliance",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }.items():
        assert s[key] == [value], key
    assert set(s["DeviceAllow"]) == {"char-ttyUSB rw", "char-ttyACM rw"}
    # The modem is a device: hiding /dev would make it vanish.
    assert "PrivateDevices" not in s


def test_backup_service_and_timer() -> None:
    s = unit_settings("appliance-backup.service")
    assert s["Type"] == ["oneshot"]
    assert re.search(r"appliance backup --config /etc/appliance/appliance.toml --keep \d+$",
                     s["ExecStart"][0])
    assert s["User"] == ["appliance"]
    t = unit_settings("appliance-backup.timer")
    assert t["Unit"] == ["appliance-backup.service"]
    assert t["Persistent"] == ["true"]
    assert t["OnCalendar"]
    assert t["WantedBy"] == ["timers.target"]


def test_calendar_expression_is_valid() -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze
    expr = unit_settings("appliance-backup.timer")["OnCalendar"][0]
    proc = subprocess.run([analyze, "calendar", expr], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Next elapse" in proc.stdout


# --- udev --------------------------------------------------------------------------------

_UDEV_ITEM = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[A-Za-z0-9_/]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*'
    r'"(?P<value>[^"]*)"\s*(?:,|$)'
)
_MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ENV", "ATTRS", "ATTR", "SUBSYSTEMS", "KERNELS",
               "DRIVERS", "TEST"}
_ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "SYMLINK", "GOTO", "LABEL", "IMPORT", "TAG", "OWNER",
                "ATTR"}


def parse_udev_line(line: str) -> list[tuple[str, str | None, str, str]]:
    items = []
    pos = 0
    while pos < len(line):
        m = _UDEV_ITEM.match(line, pos)
        assert m, f"unparseable udev rule at column {pos}: {line!r}"
        items.append((m["key"], m["attr"], m["op"], m["value"]))
        pos = m.end()
    return items


def udev_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    return [parse_udev_line(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_udev_rule_is_well_formed_and_does_the_job() -> None:
    text = (SYSTEMD / "99-appliance-modems.rules").read_text()
    rules = udev_rules(text)
    labels = {v for rule in rules for k, _, op, v in rule if k == "LABEL"}
    gotos = {v for rule in rules for k, _, op, v in rule if k == "GOTO"}
    assert gotos <= labels
    for rule in rules:
        for key, _attr, op, _value in rule:
            allowed = _MATCH_KEYS if op in ("==", "!=") else _ASSIGN_KEYS
            assert key in allowed, (key, op, rule)
    assigns = [(k, a, v) for rule in rules for k, a, op, v in rule if op in ("=", "+=")]
    assert ("ENV", "ID_MM_DEVICE_IGNORE", "1") in assigns
    assert ("GROUP", None, "dialout") in assigns
    assert ("ATTR", "power/control", "on") in assigns  # no USB autosuspend for modems
    assert any(k == "SYMLINK" and v.startswith("gsm-") for k, _, v in assigns)


@pytest.mark.parametrize(("family", "vendor", "model"), [
    ("E3372", "12d1", "1506"),
    ("E173", "12d1", "1436"),
    ("SIM7600", "1e0e", "9001"),
    ("EC25", "2c7c", "0125"),
    ("SIM800", "0403", "6001"),
])
def test_udev_rule_has_a_stable_name_example_per_family(family: str, vendor: str,
                                                        model: str) -> None:
    text = (SYSTEMD / "99-appliance-modems.rules").read_text()
    assert family in text
    examples = [line.lstrip("#") for line in text.splitlines()
                if line.startswith("#ENV{ID_VENDOR_ID}==")]
    matching = [e for e in examples
                if f'ENV{{ID_VENDOR_ID}}=="{vendor}"' in e and f'"{model}"' in e]
    assert matching, family
    for example in matching:  # each example, once uncommented, is a valid rule
        items = parse_udev_line(example)
        keys = {(k, a) for k, a, _op, _v in items}
        assert ("ENV", "ID_SERIAL_SHORT") in keys or ("ENV", "ID_PATH") in keys
        assert any(k == "SYMLINK" and v.startswith("gsm-") for k, _, _, v in items)


def test_service_hardening_exposure_stays_low(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the unit (offline): keep it in the "OK" band."""
    analyze = shutil.which("systemd-analyze")
    assert analyze
    service = staged_units(tmp_path)[0]
    proc = subprocess.run([analyze, "security", "--offline=true", str(service)],
                          capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for appliance\.service: (\d+\.\d+)",
                      proc.stdout)
    assert match, proc.stdout[-500:] + proc.stderr
    assert float(match[1]) <= 2.5, proc.stdout
