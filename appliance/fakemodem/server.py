"""The fake modem's I/O front: a pty in raw mode (with a symlink, like socat's link=),
threads that feed the pure interpreter and write its answers, and the control socket."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from appliance.fakemodem.control import ControlServer, serve_control
from appliance.fakemodem.faults import fault_args
from appliance.fakemodem.interpreter import Interpreter
from appliance.fakemodem.model import (
    Busy,
    Chunk,
    DelayModel,
    FaultParam,
    ModemConfig,
    Output,
    SentMessage,
    Stored,
    Timer,
)
from appliance.fakemodem.requests import handle_request
from appliance.fakemodem.timers import Scheduler

SOCKET_NAME = "fakemodem.sock"
INFO_NAME = "fakemodem.json"
_WRITE_STALL = 2.0  # seconds a full pty buffer may block before its bytes are dropped


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FakeModemServer:
    """A fake GSM modem on a pty (see docs/fake-modem.md).

    `link` becomes a symlink to the pty; `state_dir` holds the control socket.
    `delay` is "none" or "realistic" (seeded by `seed` for repeatable runs);
    `time_scale` multiplies every delay (0.01: a 3 s send takes 30 ms; must be > 0).
    """

    def __init__(self, link: Path, state_dir: Path, delay: str = "none", *,
                 name: str = "modem", seed: int | None = None,
                 config: ModemConfig | None = None,
                 clock: Callable[[], datetime] = _utcnow, time_scale: float = 1.0) -> None:
        self.link = Path(link)
        self.state_dir = Path(state_dir)
        self.name = name
        self._clock = clock
        self.interpreter = Interpreter(config, DelayModel(delay, seed, time_scale), rng_seed=seed)
        self._lock = threading.RLock()
        self._fd_lock = threading.Lock()
        self._master: int | None = None
        self.pty_path: str | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._writes: queue.Queue[tuple[int, Chunk] | None] = queue.Queue()
        self._timers = Scheduler(self._stop)
        self._threads: list[threading.Thread] = []
        self._idle = threading.Condition()
        self._queued = 0
        self._reader: threading.Thread | None = None
        self._control: ControlServer | None = None
        self.gone_for_good = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeModemServer:
        """Open the pty, make the link, start the threads and the control socket."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # The socket first: a second modem on the same state dir fails before it
        # touches the link.
        self._control = serve_control(self.state_dir / SOCKET_NAME, self.handle_request)
        try:
            self._open_pty()
        except OSError:
            self._control.close()
            raise
        for target, label in ((self._write_loop, "writer"), (self._timers.run, "timers")):
            t = threading.Thread(target=target, name=f"fakemodem-{self.name}-{label}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        self._write_info()
        return self

    def stop(self) -> None:
        """Stop the threads, close the pty, remove the link and the socket."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._control is not None:
            self._control.close()
        self._writes.put(None)
        self._timers.wake()
        self._close_pty()
        for t in self._threads:
            t.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            if self.link.is_symlink():
                self.link.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / INFO_NAME).unlink()

    @property
    def alive(self) -> bool:
        """Whether every thread of the modem still runs (the pty's reader too, unless the
        port vanished)."""
        threads = [*self._threads, *([self._reader] if self._reader else [])]
        return not self._stop.is_set() and all(t.is_alive() for t in threads)

    def __enter__(self) -> FakeModemServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _write_info(self) -> None:
        info = {"pty": self.pty_path, "link": str(self.link), "pid": os.getpid(),
                "socket": str(self.state_dir / SOCKET_NAME), "name": self.name}
        (self.state_dir / INFO_NAME).write_text(json.dumps(info) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------ pty

    def _open_pty(self, avoid: str | None = None) -> None:
        master, slave = os.openpty()
        if avoid is not None and os.ttyname(slave) == avoid:
            # A re-enumerated port gets another name, so a client holding the resolved
            # path (not the link) notices; the kernel would hand back the freed number.
            again = os.openpty()
            os.close(master)
            os.close(slave)
            master, slave = again
        tty.setraw(slave)
        path = os.ttyname(slave)
        # Close our slave end: the master then sees POLLHUP while no client has the port
        # open, and output is dropped as a real modem's would be.
        os.close(slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        with self._fd_lock:
            self._master = master
            self._generation += 1
            generation = self._generation
        self.pty_path = path
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(path)
        tmp.replace(self.link)  # atomic, as socat's link= is updated
        reader = threading.Thread(target=self._read_loop, args=(master, generation),
                                  name=f"fakemodem-{self.name}-reader", daemon=True)
        reader.start()
        self._reader = reader

    def _close_pty(self) -> None:
        with self._fd_lock:
            master, self._master = self._master, None
            self._generation += 1
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=5)
        if master is not None:
            with contextlib.suppress(OSError):
                os.close(master)

    def _read_loop(self, master: int, generation: int) -> None:
        poller = select.poll()
        poller.register(master, select.POLLIN | select.POLLHUP | select.POLLERR)
        while not self._stop.is_set() and self._generation == generation:
            try:
                events = poller.poll(50)
            except OSError:
                return
            if not events:
                continue
            _, ev = events[0]
            if ev & select.POLLIN:
                try:
                    data = os.read(master, 4096)
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EIO):
                        self._stop.wait(0.02)
                        continue
                    return
                if data:
                    with self._lock:
                        if self._generation != generation:
                            return  # the port vanished while we waited
                        self._emit(self.interpreter.feed(data, self._clock()))
            elif ev & (select.POLLHUP | select.POLLERR):
                self._stop.wait(0.05)  # no client has the port open

    def _client_attached(self, master: int) -> bool:
        poller = select.poll()
        poller.register(master, select.POLLOUT | select.POLLHUP)
        try:
            events = poller.poll(0)
        except OSError:
            return False
        return not any(ev & select.POLLHUP for _, ev in events)

    def _write_loop(self) -> None:
        while True:
            item = self._writes.get()
            if item is None:
                return
            generation, chunk = item
            try:
                if chunk.delay > 0 and self._stop.wait(chunk.delay):
                    return
                self._write_now(generation, chunk.data)
            finally:
                with self._idle:
                    self._queued -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued answer and notice has been written (or dropped)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._queued:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _write_now(self, generation: int, data: bytes) -> None:
        deadline = time.monotonic() + _WRITE_STALL
        while data and not self._stop.is_set():
            with self._fd_lock:
                master = self._master
                if master is None or generation != self._generation:
                    return  # the port this was meant for is gone
                if not self._client_attached(master):
                    return  # nobody listening: bytes are lost, as on a real port
                try:
                    n = os.write(master, data)
                except BlockingIOError:
                    n = 0
                except OSError:
                    return
            data = data[n:]
            if data:
                if time.monotonic() > deadline:
                    return
                self._stop.wait(0.01)

    def _emit(self, out: Output) -> None:
        """Queue an interpreter output (call with the lock held)."""
        generation = self._generation
        for chunk in out.chunks:
            with self._idle:
                self._queued += 1
            self._writes.put((generation, chunk))
        for timer in out.timers:
            self._timers.schedule(timer.delay, functools.partial(self._fire, timer))

    def _fire(self, timer: Timer) -> None:
        with self._lock:
            self._emit(self.interpreter.fire(timer, self._clock()))

    # ------------------------------------------------------------------ in-process API

    def deliver(self, sender: str, text: str, *, ucs2: bool = False,
                storage: str | None = None, parts_order: list[int] | None = None,
                drop_part: int | None = None, ref_bits: int = 8,
                smsc: str | None = None) -> list[str]:
        """The network delivers `text` from `sender`; returns the PDUs handed over.

        `storage` None means where `AT+CPMS` says new messages go (SM by default);
        `parts_order` (1-based) reorders parts, `drop_part` (1-based) never arrives.
        """
        with self._lock:
            out, pdus = self.interpreter.deliver(
                sender, text, self._clock(), ucs2=ucs2, storage=storage,
                parts_order=parts_order, drop_part=drop_part, ref_bits=ref_bits, smsc=smsc)
            self._emit(out)
        return pdus

    def deliver_pdu(self, hex_pdu: str, *, storage: str | None = None,
                    stat: int = 0) -> None:
        """Store a captured PDU exactly as given (SMSC included) and notify."""
        with self._lock:
            self._emit(self.interpreter.deliver_pdu(hex_pdu, self._clock(), storage=storage,
                                                    stat=stat))

    def sent(self, include_incomplete: bool = False) -> list[SentMessage]:
        """What clients submitted with +CMGS, concatenated parts joined, oldest first."""
        with self._lock:
            return self.interpreter.sent(include_incomplete)

    def stored(self) -> list[Stored]:
        """Messages in the modem's storages (SM, then ME)."""
        with self._lock:
            return list(self.interpreter.stored())

    def status(self) -> dict[str, object]:
        """A snapshot of the modem's state for testers (JSON-able)."""
        with self._lock:
            return {"pty": self.pty_path, "link": str(self.link), "name": self.name,
                    "gone_for_good": self.gone_for_good, **self.interpreter.snapshot()}

    def history(self) -> list[tuple[str, str]]:
        """The last command lines the modem got, each with its final result code."""
        with self._lock:
            return list(self.interpreter.history)

    def timeline(self) -> list[Busy]:
        """Each command line (and message after `> `) with when it came and how long, in
        model seconds, the modem took to answer it (oldest first; the last 100,000)."""
        with self._lock:
            return list(self.interpreter.timeline)

    def fault(self, kind: str, **params: FaultParam) -> None:
        """Arm a fault: see docs/fake-modem.md for kinds and parameters."""
        kind = kind.replace("_", "-").lower()
        if kind == "vanish":
            after = params.get("reappear_after")
            self.vanish(None if after is None else float(after))
            return
        args = fault_args(params)
        with self._lock:
            self._emit(self.interpreter.fault(kind, self._clock(), **args))

    def reset_faults(self) -> None:
        """Clear all faults (a vanished port stays as it is)."""
        with self._lock:
            self._emit(self.interpreter.reset_faults(self._clock()))

    def vanish(self, reappear_after: float | None = None) -> None:
        """The USB port disappears; with `reappear_after`, a NEW pty appears at the same
        link after that many seconds (the modem rebooted: settings back to power-up)."""
        self._close_pty()  # not under the lock: the reader may be waiting for it
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            old_path, self.pty_path = self.pty_path, None
            if reappear_after is None:
                self.gone_for_good = True
                return
        self._timers.schedule(float(reappear_after), functools.partial(self._reappear, old_path))

    def _reappear(self, old_path: str | None) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            self.interpreter.power_on()
            self._open_pty(avoid=old_path)
            self._write_info()

    # ------------------------------------------------------------------ control socket

    def handle_request(self, request: dict[str, object]) -> object:
        """One control request (a decoded JSON line) -> its JSON-able result."""
        return handle_request(self, request)
