"""`appliance run`: bad config exits 2 with one line; SIGTERM and SIGINT stop it cleanly
(exit 0); systemd hears READY=1, STATUS= and WATCHDOG=1 while it is healthy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import DaemonProc, Fakes
from tests.helpers import wait_for

RUN = [sys.executable, "-c", "from appliance.cli import main; main()", "run"]


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('database = "x.sqlite"\n[[modems]]\nname = "m"\nport = 12\n', "utf-8")
    proc = subprocess.run([*RUN, "--config", str(bad)], capture_output=True, timeout=30,
                          check=False)
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "modems[0].port" in lines[0]


def test_missing_config_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run([*RUN, "--config", str(tmp_path / "nope.toml")],
                          capture_output=True, timeout=30, check=False)
    assert proc.returncode == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_exit_0(fakes: Fakes, daemon_proc: DaemonProc,
                                          sig: signal.Signals) -> None:
    fakes.config()
    daemon_proc.start()
    fakes.deliver("+38344123456", "B")
    fakes.wait_replies("+38344123456", 1, timeout=30)
    assert daemon_proc.proc is not None
    daemon_proc.proc.send_signal(sig)
    assert daemon_proc.wait_exit(20) == 0
    assert "daemon stopped" in daemon_proc.log_file.read_text(encoding="utf-8")


def test_systemd_notify_ready_status_and_watchdog(fakes: Fakes,
                                                 daemon_proc: DaemonProc) -> None:
    fakes.config()
    name = f"appliance-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())  # abstract namespace: no path-length limit
    sock.settimeout(0.2)
    got: list[str] = []

    def heard(field: str) -> bool:
        try:
            while True:
                got.extend(sock.recv(4096).decode().splitlines())
        except (TimeoutError, BlockingIOError):
            pass
        return any(line.startswith(field) for line in got)

    try:
        daemon_proc.start(extra_env={"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "400000"})
        wait_for(lambda: heard("READY=1"), timeout=30, what="READY=1")
        assert heard("STATUS=")
        wait_for(lambda: heard("WATCHDOG=1"), timeout=10, what="WATCHDOG=1")
        assert daemon_proc.stop() == 0
        heard("STOPPING=1")
        assert "STOPPING=1" in got
    finally:
        sock.close()
    assert os.environ.get("NOTIFY_SOCKET") != f"@{name}"


def test_sigterm_during_a_send_the_modem_never_answers_stops_within_systemds_timeout(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    """A send whose `+CMGS` never comes back holds the modem for minutes (the send's own
    timeout); SIGTERM must still end the daemon well inside the unit's TimeoutStopSec (45 s),
    with exit 0, leaving the row to the next start's crash recovery."""
    import time

    fakes.config(modem={"command_timeout": 30})
    fakes.modem.fault("no-answer", match="+CMGS", count=1)
    daemon_proc.start()
    fakes.deliver("+38344123456", "B")
    wait_for(lambda: any(b.command == "<message>" for b in fakes.modem.timeline()),
             timeout=30, what="the reply's PDU written")
    assert daemon_proc.proc is not None
    started = time.monotonic()
    daemon_proc.proc.send_signal(signal.SIGTERM)
    assert daemon_proc.wait_exit(40) == 0
    assert time.monotonic() - started < 20
    assert "daemon stopped" in daemon_proc.log_file.read_text(encoding="utf-8")
