"""`Modem`: our one interface to a GSM modem, over our own AT link (`serial_link` around
`at_protocol`), init (`startup`), answer parsing (`at_answers`) and PDUs (`pdu`).
Our types, our exceptions; nothing of gsmmodem leaks out.

Usage (threads may share one `Modem`: every public method takes its lock)::

    modem = Modem("/dev/ttyUSB0", on_new_message=inbox.kick, on_gone=health.lost)
    modem.open()                       # short init; PinRequired / CmeError / ModemGone
    for msg in modem.list_stored():    # SM and ME; raw PDUs, undecodable ones included
        ...store msg.pdu..., then modem.delete(msg.storage, msg.index)
    modem.send("+38344123456", "Bilanci: 12,50 EUR")   # SendResult(refs=(17,))

Weak spots of python-gsmmodem-new handled here (numbers from the field notes):
- #5 `delete()` removes one slot, never `AT+CMGD=…,4`; #6 `list_stored()` never decodes.
- #10 PDU mode only, `+CSCS` untouched; #11 `request_report` sets or clears the bit.
- #14 concatenation is exposed (`Deliver.concat`); the daemon reassembles.
- #15 `open()` is short (`appliance.modem.startup`) and `reopen()` recovers without a
  blind `AT+CFUN=1,1` (which can flip sticks into USB-storage mode for good).
- #1–4, #7–9, #12, #13: see `appliance.modem.serial_link` and `.at_protocol`.

Callbacks run on the link's notice thread (never the reader): `on_new_message(storage,
index)` for `+CMTI` and `+CMT`; `on_status_report(StatusReport)` for `+CDS` (in direct
mode its `ack` is owed once the report is committed) and for a report the modem stored
(`+CDSI`, or found by `list_stored()`: `appliance.modem.reports`); `on_gone()` once when
the port vanishes. A callback may call back into the `Modem`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import logging
import random
import threading
from collections.abc import Callable, Iterator

from appliance.config import DEFAULT_COMMAND_TIMEOUT
from appliance.core.phones import mask as mask_phone
from appliance.modem import startup
from appliance.modem.at_answers import (
    cds_length,
    is_restart_notice,
    new_message_slot,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
)
from appliance.modem.at_protocol import Notice
from appliance.modem.channel import Channel
from appliance.modem.direct import DIRECT, DIRECT_RECHECK, Acks, DirectQueue, send_acks
from appliance.modem.errors import (
    ModemError,
)
from appliance.modem.facts import FactQueries
from appliance.modem.pdu import PduError, decode_status_report, encode_submit
from appliance.modem.relay import RelayLink
from appliance.modem.reports import HeldReports
from appliance.modem.serial_link import SerialLink
from appliance.modem.stored import StoredMessages
from appliance.modem.types import (
    SendResult,
    StatusReport,
)
from appliance.modem.walk import StorageWalk

log = logging.getLogger(__name__)

# parse_cmgl/parse_cmgr: importable from here as before they moved to at_answers.
__all__ = ["Modem", "parse_cmgl", "parse_cmgr"]


class Modem(FactQueries, StoredMessages):
    """One GSM modem on a serial port. Thread-safe; see the module docstring."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        rtscts: bool = False,
        pin: str | None = None,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        send_timeout: float = 120.0,
        prompt_timeout: float = 5.0,
        list_timeout: float = 30.0,
        on_new_message: Callable[[str, int], None] | None = None,
        on_status_report: Callable[[StatusReport], None] | None = None,
        on_gone: Callable[[], None] | None = None,
        name: str = "modem",
        probe: bool = False,
        receive: str = "stored",
    ) -> None:
        """`probe=True` opens for inspection only (`appliance doctor`): a locked SIM is
        recorded in `pin_state()` instead of failing `open()`, and nothing is configured
        beyond what reading facts needs (no +CNMI, so no notices are routed to us).
        `receive="direct"`: messages handed over by +CMT where the modem can (see
        `appliance.modem.direct`), listed as storage `CMT`; their delete acknowledges."""
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("a SIM PIN is 4 to 8 digits")
        self.port = port
        self.name = name
        # Every open makes a fresh link (a vanished port's threads are gone for good).
        self._new_link = functools.partial(
            SerialLink, port, baudrate=baudrate, rtscts=rtscts, name=name,
            on_notice=self._handle_notice, on_gone=self._handle_gone,
        )
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self.prompt_timeout = prompt_timeout
        self.list_timeout = list_timeout
        self._pin = pin
        self._on_new_message = on_new_message
        self._on_status_report = on_status_report
        self._on_gone = on_gone
        self._lock = threading.RLock()
        self._ch = Channel(name, port, command_timeout)
        self._storages: tuple[str, ...] = ("SM",)
        self._walk = StorageWalk()
        self._concat_refs = itertools.count(random.randrange(256))  # next() is atomic
        self._needs_init = False  # set when the modem announces it restarted
        self.cnmi: str | None = None
        self._probe = probe
        self._sim_state: str | None = None
        self._relay = RelayLink()  # +CMMS=2 between sends
        self._want_direct = receive == "direct" and not probe
        self._direct = DirectQueue()
        self._acks = Acks()
        self._held = HeldReports()  # stored status reports not taken yet (modem/reports.py)
        self.direct = False  # the init set direct delivery up
        self.direct_recheck = DIRECT_RECHECK  # seconds after an init (stored.py)

    def pin_state(self) -> str | None:
        """`+CPIN?` as seen at the last open: READY, SIM PIN, SIM PUK, NOT INSERTED …"""
        return self._sim_state

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open the port and run the short init (ATE0, CMEE, PIN, PDU mode, storages,
        CNMI). Raises `ModemGone` (no port), `PinRequired`, `CmeError`, `ModemTimeout`."""
        with self._lock:
            old = self._ch.link
            if old is not None:
                if not old.gone:
                    return
                old.close()  # a vanished port: stop its notice thread first
                self._ch.link = None
            link = self._new_link()
            link.open()
            self._ch.link = link
            self._needs_init = False
            try:
                self._init()
            except BaseException:
                self._ch.link = None
                link.close()
                raise

    def close(self) -> None:
        """Close the port (idempotent). A command waiting in another thread gets `ModemGone`."""
        link = self._ch.link
        if link is not None:
            link.close()  # outside the lock: wakes a command that holds it
        with self._lock:
            if self._ch.link is link:
                self._ch.link = None

    def reopen(self) -> None:
        """Close and open again with a fresh init: the recovery path (no soft reset)."""
        self.close()
        self.open()

    def __enter__(self) -> Modem:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _init(self) -> None:
        self._ch.forget_storage()
        self._info = None  # a restart may be another firmware, another SIM
        self._relay.forget()
        self._direct.clear()  # not acknowledged: the network delivers them again
        self._acks.clear()
        self._held.clear()  # the next listing walks every storage: it finds what is left
        setup = startup.initialise(self._ch, self._pin, probe=self._probe,
                                   direct=self._want_direct)
        self._sim_state = setup.sim_state
        self.cnmi = setup.cnmi
        self.direct = setup.direct
        if setup.sim_state == "READY":
            self._storages = setup.storages
        self._walk.reset(self._storages,
                         recheck_after=self.direct_recheck if self.direct else None)

    # ------------------------------------------------------------ sending

    def send(
        self, to: str, text: str, *, ucs2: bool | None = None, request_report: bool = True,
        progress: Callable[[str], None] | None = None, more: bool = False,
    ) -> SendResult:
        """Send `text` to `to` (E.164), one `AT+CMGS` per part; return each part's TP-MR.

        GSM-7 when possible, else UCS-2 (`ucs2` forces either way), concatenated when long.
        Raises `PduError` for a text/number that can't be encoded, `CmsError` (see
        `.transient`), `ModemTimeout`, `ModemGone`. If a later part fails, the error
        carries the refs of the parts already accepted in `.sent_refs`. `progress` hears
        each part's steps: `"prompt"` (its PDU is about to be written: from here on it may
        go out), `"written"` (PDU and Ctrl-Z written), `"answered"` (`+CMGS: <mr>` read).
        `more`: other messages wait to be sent after this one; then (and for a message
        of several parts) the relay link is kept open between sends (`AT+CMMS=2`).
        """
        # encoded before taking the port: no radio time spent on it
        pdus = encode_submit(to, text, ucs2=ucs2, request_report=request_report,
                             ref=next(self._concat_refs) % 256)
        with self._session() as link:
            self._walk.sending = more  # a run of sends: no periodic walk between them
            if more or len(pdus) > 1:
                self._relay.keep(self._ch, link)
            refs: list[int] = []
            for part in pdus:
                try:
                    lines = link.command(
                        f"AT+CMGS={part.tpdu_length}", payload=part.hex,
                        timeout=self.send_timeout, prompt_timeout=self.prompt_timeout,
                        on_step=progress,
                    )
                except ModemError as exc:
                    exc.sent_refs = tuple(refs)
                    raise
                refs.append(parse_cmgs(lines))
                if progress is not None:
                    progress("answered")
            log.info("%s: sent %d part(s) to %s", self.name, len(refs), mask_phone(to))
            return SendResult(refs=tuple(refs))

    def acknowledge(self) -> None:
        """`AT+CNMA` for the +CMT (or +CDS) handed over last, as soon as the port is free
        (`direct.Acks`): never waits for a send in progress."""
        self._acks.add()
        self._pay_acks()

    def _pay_acks(self) -> None:
        # The port free: send what is owed. Held by another thread: it sends it before it
        # lets go (`_session`), or, added just after its look, right after (below).
        while self._acks.owed and self._lock.acquire(blocking=False):
            try:
                if self._ch.link is not None:
                    send_acks(self._ch, self._acks.take(), self.cnmi)
            finally:
                self._lock.release()

    # ------------------------------------------------------------ status and identity

    def enter_pin(self, pin: str) -> None:
        """Give the SIM its PIN now (`AT+CPIN`); `PinRequired` when refused. Not retried."""
        if not pin.isdigit():
            raise ValueError("a PIN is digits only")
        with self._lock:
            startup.give_pin(self._ch, pin)

    # ------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _session(self) -> Iterator[SerialLink]:
        """Hold the command lock, with the modem initialised, for one public operation."""
        with self._lock:
            link = self._ready()
            send_acks(self._ch, self._acks.take(), self.cnmi)  # before this operation
            try:
                yield link
            finally:
                send_acks(self._ch, self._acks.take(), self.cnmi)
        self._pay_acks()  # owed while we let go

    def _ready(self) -> SerialLink:
        """The open link, re-initialised first if the modem restarted on its own (its
        PDU mode, storages and +CNMI are back to power-up defaults then)."""
        link = self._ch.require()
        if self._needs_init:
            self._needs_init = False
            log.warning("%s: modem restarted; initialising again", self.name)
            try:
                self._init()
            except BaseException:
                self._needs_init = True
                raise
        return link

    def _handle_notice(self, notice: Notice) -> None:
        line = notice.line
        slot = new_message_slot(line)
        if slot is not None and notice.prefix == "+CDSI":
            self._report_stored(*slot)
            return
        if slot is not None:
            self._walk.notice(slot[0])
            if self._on_new_message is not None:
                self._on_new_message(*slot)
            return
        if notice.prefix == "+CDS" and notice.pdu is not None:
            try:
                report = decode_status_report(notice.pdu, cds_length(line))
            except PduError as exc:
                log.warning("%s: undecodable +CDS: %s", self.name, exc)
                return
            if self.direct:  # +CSMS=1: acknowledged like a +CMT, once committed
                report = dataclasses.replace(report, ack=self.acknowledge)
            if self._on_status_report is not None:
                self._on_status_report(report)
            elif report.ack is not None:
                report.ack()
            return
        if is_restart_notice(notice):
            # The modem rebooted (power glitch, firmware watchdog) without the port going.
            self._ch.forget_storage()
            self._needs_init = True
            return
        if notice.prefix == "+CMT" and self.direct and notice.pdu is not None:
            number = self._direct.push(notice.pdu, line)
            if self._on_new_message is not None:
                self._on_new_message(DIRECT, number)
            return
        if notice.prefix == "+CMT":
            # Our +CNMI stores messages (mt=1); one routed directly would bypass storage.
            log.warning("%s: +CMT routed directly despite +CNMI=%s", self.name, self.cnmi)
            return
        log.debug("%s: notice %s", self.name, notice.prefix)

    def _handle_gone(self) -> None:
        log.error("%s: port %s gone", self.name, self.port)
        if self._on_gone is not None:
            self._on_gone()
