"""`appliance demo` as a tester uses it: start it, read demo.json, text it from a second
"terminal" with `appliance fake-modem deliver`, read the reply with `fake-modem sent`, ask
`appliance status --config DIR/appliance.toml`, stop it with SIGINT/SIGTERM (exit 0)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_logs_masked
from tests.helpers import wait_for

CLI = [sys.executable, "-c", "from appliance.cli import main; main()"]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          check=False, cwd=cwd)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_end_to_end(tmp_path: Path, sig: signal.Signals) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "appliance.sqlite").write_text("stale", encoding="utf-8")  # a fresh start
    out = (tmp_path / "demo.out").open("wb")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_LANG")}
    proc = subprocess.Popen([*CLI, "demo", "--state-dir", str(state)], stdout=out,
                            stderr=subprocess.STDOUT, env=env)
    out.close()
    try:
        info_path = state / "demo.json"
        wait_for(info_path.exists, timeout=60, what="demo.json")
        info = json.loads(info_path.read_text(encoding="utf-8"))
        assert set(info) >= {"pty", "bank_url", "bank_token_file", "phones"}
        assert Path(info["pty"]).exists()
        assert (state / "modem").resolve() == Path(info["pty"])
        assert info["bank_url"].startswith("http://127.0.0.1:")
        assert Path(info["bank_token_file"]).exists()
        assert len(info["phones"]) == 3
        phone = info["phones"][0]
        wait_for(lambda: "Ctrl+C" in (tmp_path / "demo.out").read_text(encoding="utf-8"),
                 timeout=10, what="the banner")
        banner = (tmp_path / "demo.out").read_text(encoding="utf-8")
        for p in info["phones"]:
            assert p in banner
        assert info["pty"] in banner

        sent = _cli("fake-modem", "deliver", "--state-dir", str(state), "--from", phone, "B")
        assert sent.returncode == 0, sent.stderr

        def replies() -> list[dict[str, object]]:
            r = _cli("fake-modem", "sent", "--state-dir", str(state), "--json")
            return [m for m in map(json.loads, r.stdout.splitlines()) if m["to"] == phone]
        (reply,) = wait_for(replies, timeout=30, what="the reply in `fake-modem sent`")
        assert "***2345" in str(reply["text"])

        # The daemon's health snapshot, which doctor and status read while it holds the port.
        wait_for((state / "health.json").exists, timeout=20, what="health.json")
        status = _cli("status", "--config", str(state / "appliance.toml"))
        assert status.returncode == 0, status.stdout + status.stderr
        assert proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(sig)
        code = proc.wait(30)
    assert code == 0
    tail = (tmp_path / "demo.out").read_text(encoding="utf-8")
    assert "Demo stopped" in tail
    assert not (state / "modem").exists()  # the fake modem's link is gone with it
    assert_logs_masked(state / "appliance.log")


def test_a_second_demo_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_LANG")}
    first = subprocess.Popen([*CLI, "demo", "--state-dir", str(state)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_for((state / "demo.json").exists, timeout=60, what="demo.json")
        info = json.loads((state / "demo.json").read_text(encoding="utf-8"))
        assert info["modem_link"] == str((state / "modem").absolute())  # the link, not the pty
        second = _cli("demo", "--state-dir", str(state))
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1
        assert "--state-dir" in lines[0]
        assert str(first.pid) in lines[0]
        # The first demo still owns its modem: a tester's message is answered.
        phone = info["phones"][0]
        assert _cli("fake-modem", "deliver", "--state-dir", str(state), "--from", phone,
                    "B").returncode == 0
        wait_for(lambda: phone in _cli("fake-modem", "sent", "--state-dir", str(state)).stdout,
                 timeout=30, what="the reply")
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0


def _banner_commands(banner: str) -> list[str]:
    """The command lines the banner tells a person to type (indented, naming a subcommand)."""
    return [line.strip() for line in banner.splitlines()
            if line.startswith("  ") and any(f" {sub} " in line for sub in (
                "fake-modem deliver", "fake-modem sent", "status"))]


def test_a_new_users_demo_from_a_plain_shell(tmp_path: Path) -> None:
    """`./scripts/demo` from a login shell: umask 022, the default ./demo-state, and the
    banner's commands copy-pasted into a second terminal elsewhere, without the venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_LANG")}
    out = (tmp_path / "demo.out").open("wb")
    proc = subprocess.Popen([*CLI, "demo"], cwd=tmp_path, stdout=out,
                            stderr=subprocess.STDOUT, env=env, umask=0o022)
    out.close()
    state = tmp_path / "demo-state"
    try:
        wait_for(lambda: "Ctrl+C" in (tmp_path / "demo.out").read_text(encoding="utf-8"),
                 timeout=60, what="the banner")
        banner = (tmp_path / "demo.out").read_text(encoding="utf-8")
        deliver, sent, status = _banner_commands(banner)
        assert " deliver " in deliver
        assert " sent " in sent
        assert " status " in status

        # A second terminal: another directory, a PATH without the venv.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}

        def sh(line: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["/bin/sh", "-c", line], cwd=elsewhere, env=shell_env,
                                  capture_output=True, text=True, timeout=60, check=False)

        delivered = sh(deliver)
        assert delivered.returncode == 0, (deliver, delivered.stderr)
        phone = json.loads((state / "demo.json").read_text(encoding="utf-8"))["phones"][0]
        assert phone in deliver

        def replied() -> bool:
            r = sh(sent)
            assert r.returncode == 0, (sent, r.stderr)
            return phone in r.stdout and "***2345" in r.stdout
        wait_for(replied, timeout=30, what="the reply, through the printed `sent` command")
        wait_for((state / "health.json").exists, timeout=20, what="health.json")
        shown = sh(status)
        assert shown.returncode == 0, (status, shown.stdout + shown.stderr)

        # Invariant 7 whoever starts it: nothing in the state dir is readable by others.
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        db = state / "appliance.sqlite"
        private = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), state / "appliance.log",
                   Path(json.loads((state / "demo.json").read_text())["bank_token_file"])]
        for path in private:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        for path in state.iterdir():
            if not path.is_symlink():
                assert not stat.S_IMODE(path.lstat().st_mode) & 0o077, path.name
        assert proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0
