"""`Modem`: our one interface to a GSM modem (python-gsmmodem-new's PDU encoder underneath,
our own corrected AT link). Snake_case, our types, our exceptions; nothing of gsmmodem
leaks out.

Usage (the daemon's inbox and outbox threads may share one `Modem`; every public method
takes the same lock, so compound operations such as "switch storage, then list" are
atomic)::

    modem = Modem("/dev/ttyUSB0", on_new_message=inbox.kick, on_gone=health.lost)
    modem.open()                       # short init; PinRequired / CmeError / ModemGone
    for msg in modem.list_stored():    # SM and ME; raw PDUs, undecodable ones included
        ...store msg.pdu..., then modem.delete(msg.storage, msg.index)
    modem.send("+38344123456", "Bilanci: 12,50 EUR")   # SendResult(refs=(17,))

Weak spots of python-gsmmodem-new handled here (numbers from the field notes):
- #5 never `processStoredSms`/`listStoredSms(delete=True)`: `delete()` removes one slot,
  never `AT+CMGD=…,4`; #6 `list_stored()` never decodes, so nothing is skipped.
- #10 PDU mode only; `+CSCS` is never touched; UCS-2 is built in the PDU.
- #11 `request_report` sets or clears the status-report bit.
- #14 concatenation is exposed (`Deliver.concat`); the daemon reassembles.
- #15 `open()` is short (no voice setup, no forced ME storage, no recursion) and
  `reopen()` recovers without a blind `AT+CFUN=1,1` (which can flip sticks into
  USB-storage mode for good).
- #1–4, #7–9, #12, #13: see `appliance.modem.serial_link`.

Callbacks run on the link's notice thread (never the reader): `on_new_message(storage,
index)` for `+CMTI` and `+CDSI`; `on_status_report(StatusReport)` for `+CDS`;
`on_gone()` once when the port vanishes. A callback may call back into the `Modem`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import re
import threading
from collections.abc import Callable, Iterator

from appliance.core.phones import mask as mask_phone
from appliance.modem.errors import (
    CmeError,
    CmsError,
    CommandError,
    ModemError,
    ModemGone,
    PinRequired,
)
from appliance.modem.pdu import PduError, decode_status_report, encode_submit
from appliance.modem.serial_link import Notice, SerialLink
from appliance.modem.types import (
    ModemInfo,
    Registration,
    SendResult,
    StatusReport,
    StoredMessage,
)

log = logging.getLogger(__name__)

__all__ = ["Modem"]

_CMTI = re.compile(r'^\+CMTI:\s*"?([A-Za-z]+)"?\s*,\s*(\d+)')
_CDSI = re.compile(r'^\+CDSI:\s*"?([A-Za-z]+)"?\s*,\s*(\d+)')
_CDS = re.compile(r"^\+CDS:\s*(?:[^,]*,)?\s*(\d+)\s*$")
_CMGS = re.compile(r"^\+CMGS:\s*(\d+)")
_QUOTED = re.compile(r'"([^"]*)"')
_NUMBERS = re.compile(r"-?\d+")

# CNMI settings tried in order: +CMTI for stored messages and +CDS for reports (our
# choice), then the variants modems that refuse it usually accept.
_CNMI_CHOICES = ("2,1,0,1,0", "1,1,0,1,0", "2,1,0,2,0", "2,1,0,0,0", "1,1,0,0,0")
_SIM_BUSY = (14, "SIM busy")
# (port, PIN digest) pairs a SIM refused in this process: a daemon that reopens a modem
# every minute must not burn the SIM's three PIN attempts. A new PIN (file edited) is tried.
_REJECTED_PINS: set[tuple[str, str]] = set()
_REJECTED_LOCK = threading.Lock()
# Lines modems print when they (re)start: SIMCom "RDY"/"SMS Ready", Quectel "RDY", …
_RESTART_NOTICES = frozenset({"RDY", "SMS Ready", "Call Ready", "^SYSSTART", "+CFUN: 1"})


def _mask(number: str) -> str:
    """A phone number fit for the log, in the one form every log line uses (core.phones)."""
    return mask_phone(number)


class Modem:
    """One GSM modem on a serial port. Thread-safe; see the module docstring."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        rtscts: bool = False,
        pin: str | None = None,
        command_timeout: float = 10.0,
        send_timeout: float = 120.0,
        prompt_timeout: float = 5.0,
        list_timeout: float = 30.0,
        on_new_message: Callable[[str, int], None] | None = None,
        on_status_report: Callable[[StatusReport], None] | None = None,
        on_gone: Callable[[], None] | None = None,
        name: str = "modem",
        probe: bool = False,
    ) -> None:
        """`probe=True` opens for inspection only (`appliance doctor`): a locked SIM is
        recorded in `pin_state()` instead of failing `open()`, and nothing is configured
        beyond what reading facts needs (no +CNMI, so no notices are routed to us)."""
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("a SIM PIN is 4 to 8 digits")
        self.port = port
        self.baudrate = baudrate
        self.rtscts = rtscts
        self.name = name
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self.prompt_timeout = prompt_timeout
        self.list_timeout = list_timeout
        self._pin = pin
        self._on_new_message = on_new_message
        self._on_status_report = on_status_report
        self._on_gone = on_gone
        self._lock = threading.RLock()
        self._link: SerialLink | None = None
        self._storages: tuple[str, ...] = ("SM",)
        self._mem1: str | None = None
        self._concat_ref = random.randrange(256)
        self._needs_init = False  # set when the modem announces it restarted
        self.cnmi: str | None = None
        self._probe = probe
        self._sim_state: str | None = None

    def pin_state(self) -> str | None:
        """`+CPIN?` as seen at the last open: READY, SIM PIN, SIM PUK, NOT INSERTED …"""
        return self._sim_state

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open the port and run the short init (ATE0, CMEE, PIN, PDU mode, storages,
        CNMI). Raises `ModemGone` (no port), `PinRequired`, `CmeError`, `ModemTimeout`."""
        with self._lock:
            if self._link is not None:
                if not self._link.gone:
                    return
                self._link.close()  # a vanished port: stop its notice thread first
                self._link = None
            link = SerialLink(
                self.port, baudrate=self.baudrate, rtscts=self.rtscts,
                on_notice=self._handle_notice, on_gone=self._handle_gone, name=self.name,
            )
            link.open()
            self._link = link
            self._mem1 = None
            self._needs_init = False
            try:
                self._init()
            except BaseException:
                self._link = None
                link.close()
                raise

    def close(self) -> None:
        """Close the port (idempotent). A command waiting in another thread gets `ModemGone`."""
        link = self._link
        if link is not None:
            link.close()  # outside the lock: wakes a command that holds it
        with self._lock:
            if self._link is link:
                self._link = None

    def reopen(self) -> None:
        """Close and open again with a fresh init: the recovery path (no soft reset)."""
        self.close()
        self.open()

    def __enter__(self) -> Modem:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """True while the port is open and has not vanished."""
        link = self._link
        return link is not None and not link.gone

    @property
    def bytes_received(self) -> int:
        """Bytes the reader has processed since the last open (0 when closed)."""
        link = self._link
        return link.bytes_received if link is not None else 0

    @property
    def storages(self) -> tuple[str, ...]:
        """Message storages `list_stored()` walks (SM and/or ME, as the modem offers)."""
        return self._storages

    def _init(self) -> None:
        link = self._require()
        # A previous run may have died at the `> ` prompt: ESC cancels it; the resync
        # that follows swallows whatever the modem says about it.
        link.write_raw(b"\x1b")
        link.mark_dirty()
        self._cmd("ATE0")
        self._try("AT+CMEE=1")
        if self._probe:
            self._probe_sim()
            return
        self._unlock_sim()
        self._sim_state = "READY"
        self._cmd("AT+CMGF=0")
        self._storages = self._detect_storages()
        self.cnmi = None
        for choice in _CNMI_CHOICES:
            try:
                self._cmd(f"AT+CNMI={choice}")
            except (CommandError, CmeError, CmsError):
                continue
            self.cnmi = choice
            break
        if self.cnmi is None:
            log.warning("%s: modem refuses every +CNMI setting; polling only", self.name)

    def _probe_sim(self) -> None:
        try:
            self._unlock_sim()
            self._sim_state = "READY"
        except PinRequired as exc:
            self._sim_state = exc.state
        except CmeError as exc:  # 10: SIM not inserted, 13: SIM failure
            self._sim_state = f"NOT INSERTED (+CME ERROR: {exc.code})"
        if self._sim_state == "READY":
            self._try("AT+CMGF=0")
            self._storages = self._detect_storages()

    def _unlock_sim(self) -> None:
        state = self._cpin_state()
        if state == "READY":
            return
        if state != "SIM PIN" or self._pin is None:
            raise PinRequired(state)
        key = (self.port, hashlib.sha256(self._pin.encode()).hexdigest())
        with _REJECTED_LOCK:
            if key in _REJECTED_PINS:
                log.error("%s: this PIN was refused before; not trying it again", self.name)
                raise PinRequired(state)
        try:
            self._cmd(f'AT+CPIN="{self._pin}"')
        except (CmeError, CommandError) as exc:
            # Never retried, not even by a later reopen in this process: three wrong
            # PINs lock the SIM behind its PUK.
            with _REJECTED_LOCK:
                _REJECTED_PINS.add(key)
            raise PinRequired(state) from exc
        for _ in range(20):
            state = self._cpin_state()
            if state == "READY":
                return
            self._pause(0.5)
        raise PinRequired(state)

    def _cpin_state(self) -> str:
        for _ in range(10):
            try:
                return self._value("AT+CPIN?", "+CPIN").strip('"') or "UNKNOWN"
            except CmeError as exc:
                if exc.code not in _SIM_BUSY:
                    raise
            self._pause(0.5)  # SIM still initialising
        raise CmeError(14)

    def _detect_storages(self) -> tuple[str, ...]:
        try:
            answer = self._value("AT+CPMS=?", "+CPMS")
        except (CommandError, CmeError, CmsError):
            return ("SM",)
        first_group = answer.split(")", 1)[0]
        offered = _QUOTED.findall(first_group)
        chosen = tuple(s for s in ("SM", "ME") if s in offered)
        return chosen or (tuple(offered[:1]) or ("SM",))

    # ------------------------------------------------------------ messages

    def list_stored(self) -> list[StoredMessage]:
        """Every message in every storage (`AT+CPMS` switch + `AT+CMGL=4`), PDUs raw.

        Nothing is decoded, skipped or deleted here. A storage the modem refuses
        (`+CMS ERROR`) is logged and left out; timeouts and a lost port raise.
        """
        out: list[StoredMessage] = []
        with self._session():
            for storage in self._storages:
                try:
                    self._select(storage)
                    lines = self._cmd("AT+CMGL=4", timeout=self.list_timeout)
                except (CmsError, CmeError, CommandError) as exc:
                    log.warning("%s: cannot list %s: %s", self.name, storage, exc)
                    continue
                out.extend(parse_cmgl(storage, lines))
        return out

    def read(self, storage: str, index: int) -> StoredMessage | None:
        """One stored message (`AT+CMGR`), or None when the slot is empty."""
        with self._session():
            self._select(storage)
            try:
                lines = self._cmd(f"AT+CMGR={int(index)}")
            except CmsError as exc:
                if exc.code == 321:  # invalid memory index: nothing there
                    return None
                raise
        return parse_cmgr(storage, index, lines)

    def delete(self, storage: str, index: int) -> None:
        """Delete exactly one slot (`AT+CMGD=<index>`); an already empty slot is fine."""
        with self._session():
            self._select(storage)
            try:
                self._cmd(f"AT+CMGD={int(index)}")
            except CmsError as exc:
                if exc.code != 321:
                    raise
                log.debug("%s: %s/%d already empty", self.name, storage, index)

    def send(
        self, to: str, text: str, *, ucs2: bool | None = None, request_report: bool = True
    ) -> SendResult:
        """Send `text` to `to` (E.164), one `AT+CMGS` per part; return each part's TP-MR.

        GSM-7 when possible, else UCS-2 (`ucs2` forces either way), concatenated when long.
        Raises `PduError` for a text/number that can't be encoded, `CmsError` (see
        `.transient`), `ModemTimeout`, `ModemGone`. If a later part fails, the error
        carries the refs of the parts already accepted in `.sent_refs`.
        """
        with self._session():
            ref = self._concat_ref
            self._concat_ref = (self._concat_ref + 1) % 256
            pdus = encode_submit(to, text, ucs2=ucs2, request_report=request_report, ref=ref)
            refs: list[int] = []
            for part in pdus:
                try:
                    lines = self._require().command(
                        f"AT+CMGS={part.tpdu_length}", payload=part.hex,
                        timeout=self.send_timeout, prompt_timeout=self.prompt_timeout,
                    )
                except ModemError as exc:
                    exc.sent_refs = tuple(refs)
                    raise
                refs.append(_parse_cmgs(lines))
            log.info("%s: sent %d part(s) to %s", self.name, len(refs), _mask(to))
            return SendResult(refs=tuple(refs))

    # ------------------------------------------------------------ status and identity

    def ping(self) -> bool:
        """True when the modem answers `AT` with `OK` (never raises)."""
        try:
            with self._session():
                self._cmd("AT", timeout=min(self.command_timeout, 5.0))
        except ModemError:
            return False
        return True

    def info(self) -> ModemInfo:
        """Manufacturer, model, revision, IMEI and IMSI (None where the modem won't say)."""
        with self._session():
            return ModemInfo(
                manufacturer=self._optional("AT+CGMI", "+CGMI"),
                model=self._optional("AT+CGMM", "+CGMM"),
                revision=self._optional("AT+CGMR", "+CGMR"),
                imei=self._optional("AT+CGSN", "+CGSN"),
                imsi=self._optional("AT+CIMI", "+CIMI"),
            )

    def imsi(self) -> str | None:
        """The SIM's IMSI (`AT+CIMI`), None if the modem refuses."""
        with self._session():
            return self._optional("AT+CIMI", "+CIMI")

    def signal(self) -> tuple[int, int]:
        """`AT+CSQ` as (rssi 0–31 or 99 unknown, ber 0–7 or 99)."""
        with self._session():
            numbers = [int(n) for n in _NUMBERS.findall(self._value("AT+CSQ", "+CSQ"))]
        if len(numbers) < 2:
            raise ModemError(f"{self.name}: unreadable +CSQ answer")
        return numbers[0], numbers[1]

    def signal_dbm(self) -> int | None:
        """Received signal strength in dBm (-113 … -51), None when unknown."""
        rssi, _ber = self.signal()
        return None if not 0 <= rssi <= 31 else -113 + 2 * rssi

    def registration(self) -> Registration:
        """Network registration (`AT+CREG?`)."""
        with self._session():
            fields = self._value("AT+CREG?", "+CREG").split(",")
        try:
            status = int(fields[1] if len(fields) >= 2 else fields[0])
        except ValueError:
            raise ModemError(f"{self.name}: unreadable +CREG answer") from None
        return Registration(status=status, registered=status in (1, 5), roaming=status == 5)

    def operator_name(self) -> str | None:
        """The network's name as `AT+COPS?` gives it, None when not registered."""
        with self._session():
            answer = self._value("AT+COPS?", "+COPS")
        names = _QUOTED.findall(answer)
        return names[0] if names and names[0] else None

    def storage_usage(self) -> dict[str, tuple[int, int]]:
        """(used, total) per storage `list_stored()` walks; a full SIM stops `+CMTI`."""
        usage: dict[str, tuple[int, int]] = {}
        with self._session():
            for storage in self._storages:
                numbers = [int(n) for n in _NUMBERS.findall(self._select(storage))]
                if len(numbers) >= 2:
                    usage[storage] = (numbers[0], numbers[1])
        return usage

    def smsc(self) -> str | None:
        """The service centre number the SIM holds (`AT+CSCA?`), None if unset."""
        with self._session():
            answer = self._value("AT+CSCA?", "+CSCA")
        names = _QUOTED.findall(answer)
        return names[0] if names and names[0] else None

    def enter_pin(self, pin: str) -> None:
        """Give the SIM its PIN now (`AT+CPIN`); `PinRequired` when refused. Not retried."""
        if not pin.isdigit():
            raise ValueError("a PIN is digits only")
        with self._lock:
            try:
                self._cmd(f'AT+CPIN="{pin}"')
            except (CmeError, CommandError) as exc:
                raise PinRequired("SIM PIN") from exc

    # ------------------------------------------------------------ plumbing

    def _require(self) -> SerialLink:
        link = self._link
        if link is None:
            raise ModemGone(f"{self.name}: not open")
        return link

    @contextlib.contextmanager
    def _session(self) -> Iterator[SerialLink]:
        """Hold the command lock, with the modem initialised, for one public operation."""
        with self._lock:
            yield self._ready()

    def _ready(self) -> SerialLink:
        """The open link, re-initialised first if the modem restarted on its own (its
        PDU mode, storages and +CNMI are back to power-up defaults then)."""
        link = self._require()
        if self._needs_init:
            self._needs_init = False
            log.warning("%s: modem restarted; initialising again", self.name)
            try:
                self._init()
            except BaseException:
                self._needs_init = True
                raise
        return link

    def _cmd(self, command: str, *, timeout: float | None = None) -> list[str]:
        return self._require().command(
            command, timeout=self.command_timeout if timeout is None else timeout
        )

    def _try(self, command: str) -> bool:
        try:
            self._cmd(command)
        except (CommandError, CmeError, CmsError) as exc:
            log.info("%s: %s refused (%s); carrying on", self.name, command, exc)
            return False
        return True

    def _value(self, command: str, prefix: str) -> str:
        """The answer's payload: the `prefix:` line's value, else the first line."""
        lines = self._cmd(command)
        for line in lines:
            if line.startswith(prefix + ":"):
                return line.split(":", 1)[1].strip()
        return lines[0].strip() if lines else ""

    def _optional(self, command: str, prefix: str) -> str | None:
        try:
            value = self._value(command, prefix).strip('"')
        except (CommandError, CmeError, CmsError):
            return None
        return value or None

    def _select(self, storage: str) -> str:
        """Make `storage` the read/delete storage (mem1 only); returns the `+CPMS` answer.

        Sent before every read, list and delete, never cached: a modem that restarted
        behind our back would otherwise read or delete in the wrong storage.
        """
        if storage not in ("SM", "ME", "MT", "SR", "BM", "TA"):
            raise ValueError(f"unknown storage {storage!r}")
        self._mem1 = None
        answer = self._value(f'AT+CPMS="{storage}"', "+CPMS")
        self._mem1 = storage
        return answer

    def _pause(self, seconds: float) -> None:
        """Wait, but wake at once if the port goes away."""
        link = self._require()
        if link.wait_gone(seconds):
            raise ModemGone(f"{self.name}: port {self.port} gone")

    def _handle_notice(self, notice: Notice) -> None:
        line = notice.line
        m = _CMTI.match(line) or _CDSI.match(line)
        if m:
            if self._on_new_message is not None:
                self._on_new_message(m.group(1).upper(), int(m.group(2)))
            return
        if notice.prefix == "+CDS" and notice.pdu is not None:
            cds = _CDS.match(line)
            length = int(cds.group(1)) if cds else None
            try:
                report = decode_status_report(notice.pdu, length)
            except PduError as exc:
                log.warning("%s: undecodable +CDS: %s", self.name, exc)
                return
            if self._on_status_report is not None:
                self._on_status_report(report)
            return
        if line in _RESTART_NOTICES or (notice.prefix == "+CPIN" and "READY" in line):
            # The modem rebooted (power glitch, firmware watchdog) without the port going.
            self._needs_init = True
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


def _parse_cmgs(lines: list[str]) -> int:
    for line in lines:
        m = _CMGS.match(line)
        if m:
            return int(m.group(1))
    # Sent (OK) but no reference: report -1 rather than fail a message that went out.
    log.warning("OK without +CMGS reference")
    return -1


def _header_fields(line: str) -> list[str]:
    """The comma-separated fields after `+CMGx:`, quotes kept (an alpha may hold commas)."""
    body = line.split(":", 1)[1]
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    fields.append("".join(current).strip())
    return fields


def _int_or(text: str, default: int | None) -> int | None:
    return int(text) if text.isdigit() else default


def parse_cmgl(storage: str, lines: list[str]) -> list[StoredMessage]:
    """`+CMGL: <index>,<stat>,[<alpha>],<length>` + PDU line pairs, in modem order.

    A header without its PDU line still yields a message (with an empty PDU), so the
    caller sees every index the modem reported.
    """
    out: list[StoredMessage] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("+CMGL:"):
            continue
        fields = _header_fields(line)
        index = _int_or(fields[0], None)
        if index is None:
            log.warning("+CMGL header without an index skipped")
            continue
        status = _int_or(fields[1], -1) if len(fields) > 1 else -1
        length = _int_or(fields[-1], None) if len(fields) > 2 else None
        pdu = ""
        if i < len(lines) and not lines[i].startswith("+CMGL:"):
            pdu = lines[i].strip().strip('"')
            i += 1
        out.append(StoredMessage(storage, index, -1 if status is None else status, pdu, length))
    return out


def parse_cmgr(storage: str, index: int, lines: list[str]) -> StoredMessage | None:
    """`+CMGR: <stat>,[<alpha>],<length>` + PDU line; None for an empty slot.

    Tolerates the variants real modems print (`+CMGR: 24`, `+CMGR: ,,92`,
    `+CMGR: 4,1,,151`): the first field is the status when there are several, the
    last one the length; an unknown status is -1.
    """
    for pos, line in enumerate(lines):
        if not line.startswith("+CMGR:"):
            continue
        pdu = lines[pos + 1].strip().strip('"') if pos + 1 < len(lines) else ""
        if not pdu:
            return None
        fields = _header_fields(line)
        status = _int_or(fields[0], -1) if len(fields) > 1 else -1
        length = _int_or(fields[-1], None)
        return StoredMessage(storage, index, -1 if status is None else status, pdu, length)
    return None
