"""The daemon under systemd's eyes: READY=1, WATCHDOG=1 while healthy, none when stuck;
and doctor/status while the daemon holds the modem (they read its health snapshot)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from click.testing import CliRunner

from appliance.cli import main
from tests.conftest import Box, DaemonProc, Fakes
from tests.helpers import wait_for
from tests.test_ops_sdnotify import Listener


@pytest.fixture
def notify_socket() -> Any:
    # Abstract namespace: no path length limits, nothing left behind.
    name = f"appliance-notify-{uuid.uuid4().hex}"
    lis = Listener(b"\0" + name.encode())
    try:
        yield "@" + name, lis
    finally:
        lis.close()


def test_daemon_as_systemd_starts_it(fakes: Fakes, daemon_proc: DaemonProc,
                                     notify_socket: tuple[str, Listener]) -> None:
    address, lis = notify_socket
    config = fakes.config()
    daemon_proc.start(extra_env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
    wait_for(lambda: lis.count("READY=1") == 1, timeout=30, what="READY=1")
    wait_for(lambda: lis.count("WATCHDOG=1") >= 3, timeout=15, what="watchdog pings")
    messages = lis.snapshot()
    first_ping = next(i for i, m in enumerate(messages) if "WATCHDOG=1" in m.split("\n"))
    ready_at = next(i for i, m in enumerate(messages) if "READY=1" in m.split("\n"))
    assert ready_at < first_ping  # never a ping before start-up finished

    # While it runs, doctor and status read its snapshot and leave the port alone.
    def snapshot_written() -> bool:
        result = CliRunner().invoke(main, ["status", "--config", str(config), "--json"])
        data = json.loads(result.stdout) if result.exit_code == 0 else {}
        return bool(data and data["daemon"]["running"] and data["modems"][0]["healthy"])

    wait_for(snapshot_written, timeout=30, what="the daemon's health snapshot")
    result = CliRunner().invoke(main, ["doctor", "--config", str(config), "--json"])
    report = json.loads(result.stdout)
    rows = {c["id"]: c for c in report["checks"]}
    assert rows["daemon"]["status"] == "OK"
    assert "running" in rows["daemon"]["detail"]
    assert rows["modem.m1.at"]["detail"] == "in service in the daemon"
    assert rows["modem.m1.signal"]["status"] == "OK"
    assert rows["modem.m1.model"]["status"] == "OK"
    assert result.exit_code == 0, [c for c in report["checks"] if c["status"] != "OK"]
    # The daemon kept its port the whole time: it is still serving customers.
    assert daemon_proc.proc is not None
    assert daemon_proc.proc.poll() is None

    assert daemon_proc.stop() == 0
    assert lis.count("STOPPING=1") == 1


class _Clock:
    """`time` for the daemon module, with a jump forward (a stuck loop without the wait)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_no_pings_while_the_modem_loop_is_stuck(box: Box, monkeypatch: pytest.MonkeyPatch,
                                                notify_socket: tuple[str, Listener]) -> None:
    import appliance.daemon.service as daemon_module

    address, lis = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    clock = _Clock()
    monkeypatch.setattr(daemon_module, "time", clock)

    daemon = box.daemon
    verdicts: list[bool] = []
    real_healthy = daemon.healthy

    def healthy() -> bool:  # the watchdog's predicate, counted
        ok = bool(real_healthy())
        verdicts.append(ok)
        return ok

    monkeypatch.setattr(daemon, "healthy", healthy)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    release = threading.Event()
    entered = threading.Event()
    try:
        wait_for(lambda: lis.count("READY=1") == 1, timeout=10, what="READY=1")
        wait_for(lambda: lis.count("WATCHDOG=1") >= 3, timeout=10, what="pings")

        # The modem conversation hangs (a stick that stopped answering mid-read and a
        # lock nobody gives back): the inbox loop stops turning.
        handle = next(iter(daemon.pool))
        real_list = handle.list_stored

        def stuck() -> Any:
            entered.set()
            release.wait(30)
            return real_list()

        monkeypatch.setattr(handle, "list_stored", stuck)
        daemon.wake_inbox()
        wait_for(entered.is_set, timeout=10, what="the inbox loop to enter the modem call")
        # A minute and more passes without the loop turning.
        clock.offset = 120.0
        wait_for(lambda: any("STATUS=unhealthy" in m for m in lis.snapshot()), timeout=10,
                 what="the watchdog noticing")
        stopped_at = lis.count("WATCHDOG=1")
        # Many watchdog ticks later, each finding the daemon stuck: still no ping
        # (systemd would restart the service after WatchdogSec).
        bad = verdicts.count(False)
        wait_for(lambda: verdicts.count(False) >= bad + 5, timeout=10, what="more ticks")
        assert lis.count("WATCHDOG=1") == stopped_at

        # The modem answers again: the loop turns, the pings come back.
        release.set()
        wait_for(lambda: lis.count("WATCHDOG=1") > stopped_at, timeout=15,
                 what="pings after recovery")
    finally:
        release.set()
        daemon.stop_event.set()
        runner.join(15)
    assert not runner.is_alive()
    assert lis.count("STOPPING=1") == 1
