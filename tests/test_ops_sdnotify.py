"""systemd notify protocol against a real unix datagram socket (as systemd would bind it)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import sdnotify
from tests.helpers import wait_for


class Listener:
    """A bound datagram socket that collects what the service sends, on a thread."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode())

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.messages)

    def count(self, field: str) -> int:
        return sum(1 for m in self.snapshot() if field in m.split("\n"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    lis = Listener(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield lis
    lis.close()


def test_not_under_systemd_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready("x") is False
    assert sdnotify.watchdog_interval() is None
    dog = sdnotify.Watchdog(healthy=lambda: True)
    assert dog.start() is False
    assert not dog.running


def test_socket_gone_returns_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert sdnotify.notify("READY=1") is False


def test_ready_status_stopping_fields(listener: Listener) -> None:
    assert sdnotify.ready("2 modems up")
    assert sdnotify.status("syncing\nbank")
    assert sdnotify.stopping()
    msgs = wait_for(lambda: listener.snapshot() if len(listener.snapshot()) == 3 else None,
                    timeout=5, what="three datagrams")
    assert msgs[0] == "READY=1\nSTATUS=2 modems up"
    assert msgs[1] == "STATUS=syncing bank"  # a newline would split the field
    assert msgs[2] == "STOPPING=1"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"appliance-test-{uuid.uuid4().hex}"
    lis = Listener(b"\0" + name.encode())
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready()
        wait_for(lambda: lis.count("READY=1") == 1, timeout=5, what="READY over abstract socket")
    finally:
        lis.close()


def test_watchdog_interval_is_half_and_respects_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_PID")
    for bad in ("", "0", "-5", "soon"):
        monkeypatch.setenv("WATCHDOG_USEC", bad)
        assert sdnotify.watchdog_interval() is None


def test_watchdog_pings_while_healthy_and_stops_when_not(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: pings every 0.05 s
    healthy = threading.Event()
    healthy.set()
    checks: list[bool] = []

    def predicate() -> bool:
        ok = healthy.is_set()
        checks.append(ok)
        return ok

    dog = sdnotify.Watchdog(healthy=predicate, status_when_unhealthy="modem loop stuck")
    assert dog.interval == pytest.approx(0.05)
    assert sdnotify.ready("up")
    with dog:
        assert dog.running
        wait_for(lambda: listener.count("WATCHDOG=1") >= 3, timeout=5, what="three pings")
        msgs = listener.snapshot()
        assert msgs[0].startswith("READY=1")
        healthy.clear()
        wait_for(lambda: any("STATUS=modem loop stuck" in m for m in listener.snapshot()),
                 timeout=5, what="unhealthy status")
        settled = listener.count("WATCHDOG=1")
        # Several more ticks of the watchdog, each finding it unhealthy: still no new ping.
        bad_ticks = checks.count(False)
        wait_for(lambda: checks.count(False) >= bad_ticks + 4, timeout=5, what="more ticks")
        assert listener.count("WATCHDOG=1") == settled == dog.pings
        healthy.set()
        wait_for(lambda: listener.count("WATCHDOG=1") > settled, timeout=5,
                 what="pings resume when healthy again")
    assert not dog.running


def test_watchdog_predicate_that_raises_counts_as_unhealthy(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "40000")
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise RuntimeError("boom")

    dog = sdnotify.Watchdog(healthy=broken)
    dog.start()
    try:
        wait_for(lambda: len(calls) >= 4, timeout=5, what="predicate polled")
    finally:
        dog.stop()
    assert listener.count("WATCHDOG=1") == 0
    assert dog.pings == 0
