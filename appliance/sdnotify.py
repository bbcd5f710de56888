"""systemd's notify protocol, without libsystemd: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.

The service manager passes ``$NOTIFY_SOCKET`` (a path, or ``@name`` for a socket in the
abstract namespace) and, with ``WatchdogSec=``, ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``).
Every function here is a no-op returning ``False`` when not run under systemd, so the daemon
calls them unconditionally.

The daemon uses it as::

    from appliance import sdnotify
    dog = sdnotify.Watchdog(healthy=lambda: pool.loop_alive())   # predicate: cheap, no I/O
    sdnotify.ready("2 modems, bank reachable")                   # after start-up finished
    dog.start()
    ...
    sdnotify.stopping(); dog.stop()

``Watchdog`` pings at half of ``$WATCHDOG_USEC`` only while ``healthy()`` returns true: a
stuck modem loop stops the pings and systemd restarts the service (``Restart=on-failure``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = [
    "Watchdog",
    "notify",
    "ready",
    "status",
    "stopping",
    "watchdog_interval",
    "watchdog_ping",
]


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        # Abstract namespace: a leading NUL byte instead of the '@'.
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other forms are not used on this box


def notify(*fields: str) -> bool:
    """Send ``fields`` (e.g. ``"READY=1"``, ``"STATUS=..."``) to systemd in one datagram.

    Returns True when a datagram was sent, False when not under systemd or on any error:
    notifying must never take the daemon down.
    """
    address = _socket_address(os.environ.get("NOTIFY_SOCKET", ""))
    if address is None or not fields:
        return False
    message = "\n".join(f.replace("\n", " ") for f in fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError:
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Tell systemd start-up is finished (``Type=notify``), optionally with a status line."""
    if status_text:
        return notify("READY=1", f"STATUS={status_text}")
    return notify("READY=1")


def status(text: str) -> bool:
    """Set the one-line status ``systemctl status`` shows."""
    return notify(f"STATUS={text}")


def stopping(status_text: str | None = None) -> bool:
    """Tell systemd the service is shutting down."""
    if status_text:
        return notify("STOPPING=1", f"STATUS={status_text}")
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    """One keep-alive ping (``WATCHDOG=1``)."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between pings (half of ``$WATCHDOG_USEC``), or None when no watchdog applies.

    ``$WATCHDOG_PID``, when set, must be this process: otherwise the watchdog is meant
    for another process (e.g. a parent shell) and we must not ping for it.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return value / 2_000_000


class Watchdog:
    """A thread that sends ``WATCHDOG=1`` every ``interval`` seconds while ``healthy()`` holds.

    ``interval`` defaults to ``watchdog_interval()``; with neither, ``start()`` does nothing.
    When ``healthy()`` returns False (or raises) no ping is sent for that tick and, if
    ``status_when_unhealthy`` is given, it is set as the status line once per bad spell.
    """

    def __init__(
        self,
        healthy: Callable[[], bool],
        interval: float | None = None,
        status_when_unhealthy: str | None = None,
    ) -> None:
        self._healthy = healthy
        self._interval = interval if interval is not None else watchdog_interval()
        self._unhealthy_status = status_when_unhealthy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0  # how many pings were sent: for tests and the status line

    @property
    def interval(self) -> float | None:
        """Seconds between pings, or None when systemd asked for no watchdog."""
        return self._interval

    @property
    def running(self) -> bool:
        """True while the ping thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start pinging; False when no watchdog is configured (nothing started)."""
        if self._interval is None or self.running:
            return self.running
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop pinging and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _check(self) -> bool:
        try:
            return bool(self._healthy())
        except Exception:  # a broken predicate means: not healthy
            return False

    def _run(self) -> None:
        assert self._interval is not None
        was_healthy = True
        while True:
            if self._check():
                if watchdog_ping():
                    self.pings += 1
                was_healthy = True
            elif was_healthy:
                was_healthy = False
                if self._unhealthy_status:
                    status(self._unhealthy_status)
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> Watchdog:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()
