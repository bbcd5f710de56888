"""The AT command protocol (V.250, 27.007, 27.005) without I/O, in the manner of h11:
bytes in, events out. `SerialLink` is the thread around it.

One `AtProtocol` follows one serial line. `start()` tells it a command was written (so it
can recognise the echo, the answer's own lines and the `> ` prompt); `receive()` turns the
bytes read into events, in order:

- `Echo`: the command coming back (`ATE1` on, or restored by a modem reset);
- `Line`: an information line of the pending command's answer;
- `Final`: the line that ends the answer (`OK`, `ERROR`, `+CME ERROR: …`, `+CMS ERROR: …`,
  `NO CARRIER`, …, numeric and text forms alike);
- `Prompt`: the `> ` that asks for the PDU after `AT+CMGS=<n>`;
- `Notice`: an unsolicited result (`+CMTI`, `+CDS` with its PDU line, `+CREG`, `RING`, …),
  wherever it falls, inside an answer too, unless it is the answer the command asked for
  (`AT+CREG?` answers `+CREG: 0,1`);
- `Stray`: a line no command is waiting for (a reply that came after its command timed
  out; noise);
- `Dropped`: input given up on (a run of bytes with no line end; a `+CDS` header whose PDU
  line did not follow).

Bytes are assembled into lines across reads (a `+CDS` split over two reads is whole) and
decoded leniently: no input makes `receive()` raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "AtProtocol",
    "Dropped",
    "Echo",
    "Event",
    "Final",
    "Line",
    "Notice",
    "Prompt",
    "Stray",
    "is_final",
    "prefix_of",
]

# Final result codes (27.007 §5.1 / V.250), numeric CMEE forms and text forms alike.
_FINAL_EXACT = frozenset(
    {"OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE",
     "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS"}
)
_FINAL_PREFIXES = ("+CME ERROR", "+CMS ERROR")

# Unsolicited result codes: notices unless the pending command asked for exactly that
# prefix (`AT+CREG?` answers `+CREG: 0,1`; `+CREG: 1` alone is a notice).
_URC_PREFIXES = frozenset(
    {"+CMTI", "+CDSI", "+CDS", "+CMT", "+CBM", "+CREG", "+CGREG", "+CEREG", "+CLIP",
     "+CRING", "+CUSD", "+CIEV", "+CPIN", "+CFUN", "+QIND", "+PACSP", "+CTZV", "+CSQN",
     "^RSSI", "^BOOT", "^MODE", "^SRVST", "^SIMST", "^HCSQ", "^DSFLOWRPT", "^RSSILVL",
     "^SYSSTART", "^CEND", "^ORIG", "^CONF", "^CONN"}
)
_URC_EXACT = frozenset({"RING", "RDY", "Call Ready", "SMS Ready", "NORMAL POWER DOWN"})
# Notices whose next line is a PDU (27.005 §3.4.1 in PDU mode).
_TWO_LINE_URCS = frozenset({"+CDS", "+CMT", "+CBM"})

MAX_LINE = 16384  # longer than any answer line (a PDU line is at most 2 × 176 hex digits)
_HEX_LINE = re.compile(r"^[0-9A-Fa-f]+$")
_CMD_PREFIX = re.compile(r"^AT([+^$%][A-Za-z0-9]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Echo:
    """The modem echoing the command."""

    line: str


@dataclass(frozen=True, slots=True)
class Line:
    """An information line of the pending command's answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """The final result line that ends the pending command's answer."""

    line: str

    @property
    def ok(self) -> bool:
        """True for `OK`; anything else is an error final."""
        return self.line == "OK"


@dataclass(frozen=True, slots=True)
class Prompt:
    """The `> ` prompt: the modem waits for the PDU and Ctrl-Z."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One unsolicited result: its line, and for `+CDS`/`+CMT`/`+CBM` the PDU line."""

    line: str
    pdu: str | None = None

    @property
    def prefix(self) -> str:
        """`+CMTI` for `+CMTI: "SM",3`; the whole line for `RING`."""
        return prefix_of(self.line)


@dataclass(frozen=True, slots=True)
class Stray:
    """A line that came when no command was waiting for one."""

    line: str


@dataclass(frozen=True, slots=True)
class Dropped:
    """Input given up on; `what` says which (for the log)."""

    what: str


Event = Echo | Line | Final | Prompt | Notice | Stray | Dropped


def prefix_of(line: str) -> str:
    """The part before the colon (`+CMGL` of `+CMGL: 1,0,,23`), else the stripped line."""
    head, sep, _ = line.partition(":")
    return head.strip() if sep else line.strip()


def is_final(line: str) -> bool:
    """Whether `line` ends a command's answer (numeric or text-form finals alike)."""
    return line in _FINAL_EXACT or line.startswith(_FINAL_PREFIXES)


def is_hex_line(line: str) -> bool:
    """A line of hex digits only (a PDU)."""
    return bool(_HEX_LINE.match(line))


@dataclass(slots=True)
class _Command:
    text: str
    prefix: str | None
    want_prompt: bool
    answered: bool = False  # an information line has come: an echo can no longer
    prompted: bool = False


class AtProtocol:
    """The state of one AT line: the pending command, a partial line, a `+CDS` header
    waiting for its PDU. Not thread-safe: the caller serialises `start`, `receive`,
    `abandon` (SerialLink holds one lock around them)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._command: _Command | None = None
        self._two_line: str | None = None
        # The partial line in `_buf` began before the pending command was written, so
        # whatever completes it is not that command's echo, answer or prompt.
        self._stale = False

    @property
    def pending(self) -> str | None:
        """The command whose answer is awaited, if any."""
        return self._command.text if self._command is not None else None

    def start(self, command: str, *, want_prompt: bool = False) -> bytes:
        """Begin `command` (no final awaited from an earlier one); returns the bytes to
        write. `want_prompt`: the command is answered by `> ` first (`AT+CMGS`)."""
        m = _CMD_PREFIX.match(command)
        self._command = _Command(
            text=command, prefix=m.group(1).upper() if m else None, want_prompt=want_prompt
        )
        self._stale = bool(self._buf)
        return command.encode("ascii") + b"\r"

    def abandon(self) -> None:
        """Stop waiting for the pending command's answer (it timed out, the port went):
        what it still sends arrives as `Stray`."""
        self._command = None

    def receive(self, data: bytes) -> list[Event]:
        """The events `data` (any bytes, any split) completes, in order."""
        events: list[Event] = []
        self._buf.extend(data)
        while True:
            cut = _line_end(self._buf)
            if cut < 0:
                break
            raw = bytes(self._buf[:cut])
            del self._buf[:cut + 1]
            stale, self._stale = self._stale, False
            line = raw.decode("utf-8", errors="replace").strip()
            if line:
                self._line(line, stale, events)
        if len(self._buf) > MAX_LINE:
            # Noise with no line end (a baud mismatch, a crashed stick): drop it rather
            # than grow without bound.
            events.append(Dropped(f"{len(self._buf)} bytes without a line end"))
            self._buf.clear()
            self._stale = False
        command = self._command
        if (command is not None and command.want_prompt and not command.prompted
                and not self._stale and bytes(self._buf).strip().startswith(b">")):
            self._buf.clear()
            command.prompted = True
            events.append(Prompt())
        return events

    def _line(self, line: str, stale: bool, events: list[Event]) -> None:
        if self._two_line is not None:
            header, self._two_line = self._two_line, None
            if is_hex_line(line):
                events.append(Notice(header, line))
                return
            events.append(Dropped(f"{prefix_of(header)} without its PDU line"))
        command = self._command
        prefix = prefix_of(line)
        asked = command is not None and not stale and command.prefix == prefix.upper()
        if not asked and (prefix in _URC_PREFIXES or line in _URC_EXACT):
            if prefix in _TWO_LINE_URCS:
                self._two_line = line
            else:
                events.append(Notice(line))
            return
        if command is None or stale:
            events.append(Stray(line))
            return
        if not command.answered and line.upper() == command.text.upper():
            events.append(Echo(line))
            return
        if is_final(line):
            self._command = None
            events.append(Final(line))
            return
        if line == ">" and command.want_prompt and not command.prompted:
            command.prompted = True  # `> ` with a line end after it (some firmwares)
            events.append(Prompt())
            return
        command.answered = True
        events.append(Line(line))


def _line_end(buf: bytearray) -> int:
    """Index of the first CR or LF in `buf`, -1 when there is none."""
    cr, lf = buf.find(b"\r"), buf.find(b"\n")
    if cr < 0:
        return lf
    return cr if lf < 0 else min(cr, lf)
