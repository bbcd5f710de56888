"""The AT command link: a corrected equivalent of `gsmmodem.serial_comms.SerialComms`.

We keep SerialComms' shape (a reader thread plus a write-and-wait primitive) but not its
code, because every one of its methods carries a weak spot from the field notes:

- `connect()` hard-codes RTS/CTS and DSR/DTR flow control (#9): here it is `rtscts`,
  off by default, and DSR/DTR is never used.
- `_readLoop()` reads byte by byte and decodes strictly, so one non-UTF-8 byte kills the
  thread silently (#3): here bytes are assembled into lines across reads (#13) and
  decoded with `errors="replace"`; any read error marks the link gone and wakes the
  pending command at once (#8) instead of leaving it to time out.
- `_handleLineRead()` appends unsolicited lines to whatever answer is being collected
  (#1, #2): here `+CMTI`, `+CDS` (header line + PDU line), `+CDSI`, `+CREG`, … are
  routed to the notice queue unless they are the very answer the command asked for.
- `RESPONSE_TERM` misses text-form finals (#7): `+CME ERROR: SIM not inserted`,
  `NO CARRIER`, `BUSY`, `NO ANSWER`, `COMMAND NOT SUPPORT` end a command here.
- `write()` hands a late reply to the next command (#4): here lines that arrive with no
  command pending are discarded, and after a timeout the next command first resyncs
  (plain `AT` → `OK`, then a quiet spell in which nothing stray may arrive).
- A missing `> ` prompt is left hanging (#12): here ESC is sent, then `ModemTimeout`.

The parsing itself (lines, echo, finals, prompt, notices) is `appliance.modem.at_protocol`,
which does no I/O; this module is the thread around it. Notices and the gone signal are
delivered on a separate dispatcher thread, so a callback may itself issue commands
without deadlocking the reader.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from appliance.modem.at_protocol import (
    AtProtocol,
    Dropped,
    Echo,
    Event,
    Final,
    Line,
    Notice,
    Prompt,
    Stray,
    is_final,
)
from appliance.modem.errors import ModemError, ModemGone, ModemTimeout, raise_for_final
from appliance.modem.redact import redact

log = logging.getLogger(__name__)

__all__ = ["Notice", "SerialLink", "is_final", "raise_for_final", "redact"]

CTRL_Z = b"\x1a"
ESC = b"\x1b"

@dataclass(eq=False)
class _Pending:
    """What the command thread waits on; the reader fills it from the protocol's events."""

    command: str
    lines: list[str] = field(default_factory=list)
    final: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    prompt: threading.Event = field(default_factory=threading.Event)


_STOP = object()
_MESSAGE_NOTICES = ("+CMTI", "+CMT")  # a new message, stored or handed over


class SerialLink:
    """One open serial port to an AT modem, with a reader and a notice dispatcher thread.

    `command()` is serialised by an internal lock; `on_notice` and `on_gone` run on the
    dispatcher thread (never on the reader), one at a time, in arrival order.
    """

    read_timeout = 0.2
    resync_timeout = 3.0
    quiet_period = 0.15

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        rtscts: bool = False,
        on_notice: Callable[[Notice], None] | None = None,
        on_gone: Callable[[], None] | None = None,
        name: str = "modem",
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.rtscts = rtscts
        self.name = name
        self._on_notice = on_notice
        self._on_gone = on_gone
        self._serial: serial.Serial | None = None
        self._cmd_lock = threading.Lock()
        self._state = threading.Lock()
        self._pending: _Pending | None = None
        self._protocol = AtProtocol()  # touched only under `_state`
        self._dirty = False
        self._strays = 0
        self.bytes_received = 0  # processed by the reader (diagnostics, tests)
        self.answered_at = 0.0  # monotonic time of the last final result read
        # `messages_pending`: each counter written by one thread, reader or dispatcher
        self._messages_queued = 0
        self._messages_done = 0
        self._running = False
        self._gone = threading.Event()
        self._closed_by_us = False
        self._queue: queue.Queue[object] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open the port (no flow control unless `rtscts`) and start the threads."""
        try:
            self._serial = serial.Serial(
                port=self.port, baudrate=self.baudrate, rtscts=self.rtscts, dsrdtr=False,
                timeout=self.read_timeout, write_timeout=5.0, exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ModemGone(f"{self.name}: cannot open {self.port}: {exc}") from exc
        self._running = True
        self._reader = threading.Thread(
            target=self._read_loop, name=f"{self.name}-reader", daemon=True
        )
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name=f"{self.name}-notices", daemon=True
        )
        self._reader.start()
        self._dispatcher.start()

    def close(self) -> None:
        """Stop the threads and close the port; a pending command gets `ModemGone`."""
        self._closed_by_us = True
        self._running = False
        ser = self._serial
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.cancel_read()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()
        self._mark_gone(notify=False)
        self._queue.put(_STOP)
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=2.0)

    @property
    def gone(self) -> bool:
        """True once the port failed or was closed."""
        return self._gone.is_set()

    def wait_gone(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True (at once) if the port is or goes away."""
        return self._gone.wait(timeout)

    def mark_dirty(self) -> None:
        """Make the next command resynchronise first (after ESC, a reset, a timeout)."""
        self._dirty = True

    # ------------------------------------------------------------ commands

    def write_raw(self, data: bytes) -> None:
        """Write bytes with no answer awaited (ESC to cancel a prompt)."""
        self._write(data)

    def command(
        self,
        command: str,
        *,
        timeout: float,
        payload: str | None = None,
        prompt_timeout: float = 5.0,
        on_step: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Send `command`, return the answer lines (echo and notices removed) on `OK`.

        With `payload`, wait for the `> ` prompt (ESC and `ModemTimeout` when it doesn't
        come), then send `payload` + Ctrl-Z. Raises `CmsError`, `CmeError`,
        `CommandError` for error finals, `ModemTimeout`, `ModemGone`. `on_step` hears
        `"prompt"` just before the payload is written and `"written"` just after (a
        sender records how far it got: before `"prompt"` nothing can have gone out).
        """
        with self._cmd_lock:
            self._check_alive()
            if self._dirty:
                self._resync()
            return self._run(command, timeout, payload, prompt_timeout, on_step)

    def _run(
        self, command: str, timeout: float, payload: str | None, prompt_timeout: float,
        on_step: Callable[[str], None] | None = None,
    ) -> list[str]:
        pending = _Pending(command=command)
        with self._state:
            self._pending = pending
            data = self._protocol.start(command, want_prompt=payload is not None)
        try:
            log.debug("%s > %s", self.name, redact(command))
            self._write(data)
            if payload is not None:
                self._wait(pending.prompt, pending, prompt_timeout)
                if pending.final is None:
                    if not pending.prompt.is_set():
                        # Leave no modem waiting for PDU input (#12).
                        self._write(ESC)
                        self._dirty = True
                        raise ModemTimeout(f"{self.name}: no '> ' prompt for {command}")
                    if on_step is not None:
                        try:
                            on_step("prompt")
                        except BaseException:
                            # The sender called it off (its claim was taken over): cancel
                            # the prompt, so the modem sends nothing and waits for no PDU.
                            self._write(ESC)
                            self._dirty = True
                            raise
                    self._write(payload.encode("ascii") + CTRL_Z)
                    if on_step is not None:
                        on_step("written")
            self._wait(pending.done, pending, timeout)
            if pending.final is None:
                self._dirty = True
                raise ModemTimeout(f"{self.name}: no answer to {redact(command)} in {timeout}s")
        finally:
            with self._state:
                if self._pending is pending:
                    self._pending = None
                    self._protocol.abandon()
        raise_for_final(command, pending.final)
        return pending.lines

    def _wait(self, event: threading.Event, pending: _Pending, timeout: float) -> None:
        event.wait(timeout)
        if self._gone.is_set() and pending.final is None:
            raise ModemGone(f"{self.name}: port {self.port} gone")

    def _resync(self) -> None:
        """Get back in step after a timeout: `AT` → `OK` followed by silence."""
        for _attempt in range(4):
            strays = self._strays
            try:
                lines = self._run("AT", self.resync_timeout, None, 0.0)
            except ModemTimeout:
                raise ModemTimeout(f"{self.name}: modem does not answer AT") from None
            except ModemGone:
                raise
            except ModemError:
                continue  # an ERROR that belonged to the earlier command; try again
            self._gone.wait(self.quiet_period)
            self._check_alive()
            # Lines in the answer to a bare AT belonged to the earlier command: go again.
            if self._strays == strays and not lines:
                self._dirty = False
                return
        raise ModemTimeout(f"{self.name}: could not resynchronise")

    def _check_alive(self) -> None:
        if self._gone.is_set():
            raise ModemGone(f"{self.name}: port {self.port} gone")

    def _write(self, data: bytes) -> None:
        ser = self._serial
        if ser is None or self._gone.is_set():
            raise ModemGone(f"{self.name}: port {self.port} gone")
        try:
            ser.write(data)
            ser.flush()
        except serial.SerialTimeoutException as exc:
            self._dirty = True
            raise ModemTimeout(f"{self.name}: write timed out") from exc
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            self._lost(exc)
            raise ModemGone(f"{self.name}: port {self.port} gone: {exc}") from exc

    # ------------------------------------------------------------ reader side

    def _read_loop(self) -> None:
        ser = self._serial
        assert ser is not None
        while self._running:
            try:
                data = ser.read(1)
                if data:
                    waiting = ser.in_waiting
                    if waiting:
                        data += ser.read(waiting)
            except Exception as exc:  # any failure of the port means it is gone
                if self._running:
                    self._lost(exc)
                return
            if data:
                try:
                    self.feed(data)
                except Exception:  # never let one odd line kill the reader (#3)
                    log.exception("%s: reader failed on input; continuing", self.name)

    def feed(self, data: bytes) -> None:
        """Process bytes from the port (the reader thread calls this)."""
        with self._state:
            events = self._protocol.receive(data)
            pending = self._pending
            for event in events:
                self._apply(event, pending)
        self.bytes_received += len(data)

    def _apply(self, event: Event, pending: _Pending | None) -> None:
        """Hand one protocol event on: to the waiting command, the notice queue, the log."""
        if isinstance(event, Line):
            if pending is not None:
                pending.lines.append(event.text)
        elif isinstance(event, Final):
            log.debug("%s < %s", self.name, event.line)
            self.answered_at = time.monotonic()
            if pending is not None:
                pending.final = event.line
                if self._pending is pending:
                    self._pending = None
                pending.done.set()
                pending.prompt.set()  # an error instead of `> ` wakes the prompt wait too
        elif isinstance(event, Prompt):
            if pending is not None:
                pending.prompt.set()
        elif isinstance(event, Notice):
            self._messages_queued += event.prefix in _MESSAGE_NOTICES
            self._queue.put(event)
        elif isinstance(event, Stray):
            self._strays += 1
            if event.line.startswith("+CMGS"):
                # The answer to a send we gave up on: the message went out after all.
                log.warning("%s: late %s after a timeout (that message was sent)",
                            self.name, event.line)
            else:
                log.debug("%s: discarding stray line %s", self.name, redact(event.line))
        elif isinstance(event, Dropped):
            log.warning("%s: %s dropped", self.name, event.what)
        elif isinstance(event, Echo):
            pass  # ATE1 still on, or restored by a reset

    @property
    def messages_pending(self) -> bool:
        """Whether a `+CMTI`/`+CMT` read from the port is still on its way to its callback."""
        return self._messages_queued > self._messages_done

    def _lost(self, exc: BaseException) -> None:
        if self._closed_by_us:
            return
        log.error("%s: port %s lost: %s", self.name, self.port, exc)
        self._running = False
        self._mark_gone(notify=True)
        with contextlib.suppress(Exception):
            if self._serial is not None:
                self._serial.close()

    def _mark_gone(self, *, notify: bool) -> None:
        first = not self._gone.is_set()
        self._gone.set()
        with self._state:
            pending = self._pending
        if pending is not None:
            pending.done.set()
            pending.prompt.set()
        if first and notify:
            self._queue.put("gone")

    def _dispatch_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if item == "gone":
                    if self._on_gone is not None:
                        self._on_gone()
                elif isinstance(item, Notice) and self._on_notice is not None:
                    self._on_notice(item)
            except Exception:
                log.exception("%s: notice callback failed", self.name)
            self._messages_done += isinstance(item, Notice) and item.prefix in _MESSAGE_NOTICES
