"""Reading AT answers and notices: pure functions from the lines `SerialLink.command`
returns (or a notice's line) to our types. No I/O, no threads; tests call them directly.
"""

from __future__ import annotations

import logging
import re

from appliance.modem.at_protocol import Notice
from appliance.modem.types import Registration, StoredMessage

log = logging.getLogger(__name__)

__all__ = [
    "answer_value",
    "cds_length",
    "first_quoted",
    "is_restart_notice",
    "new_message_slot",
    "numbers",
    "offered_storages",
    "parse_cmgl",
    "parse_cmgr",
    "parse_cmgs",
    "parse_creg",
]

_SLOT = re.compile(r'^\+(?:CMTI|CDSI):\s*"?([A-Za-z]+)"?\s*,\s*(\d+)')
# Lines modems print when they (re)start: SIMCom "RDY"/"SMS Ready", Quectel "RDY", …
_RESTART_NOTICES = frozenset({"RDY", "SMS Ready", "Call Ready", "^SYSSTART", "+CFUN: 1"})
_CDS = re.compile(r"^\+CDS:\s*(?:[^,]*,)?\s*(\d+)\s*$")
_CMGS = re.compile(r"^\+CMGS:\s*(\d+)")
_QUOTED = re.compile(r'"([^"]*)"')
_NUMBERS = re.compile(r"-?\d+")


def new_message_slot(line: str) -> tuple[str, int] | None:
    """(storage, index) of a `+CMTI`/`+CDSI` notice (storage upper-cased), else None."""
    m = _SLOT.match(line)
    return (m.group(1).upper(), int(m.group(2))) if m else None


def is_restart_notice(notice: Notice) -> bool:
    """A notice that says the modem (re)started: its PDU mode, storages and +CNMI are
    back to power-up defaults (a power glitch, a firmware watchdog; the port stayed)."""
    return notice.line in _RESTART_NOTICES or (
        notice.prefix == "+CPIN" and "READY" in notice.line)


def cds_length(line: str) -> int | None:
    """The TPDU length a `+CDS: [<alpha>,]<length>` header announces, None if unreadable."""
    m = _CDS.match(line)
    return int(m.group(1)) if m else None


def answer_value(lines: list[str], prefix: str) -> str:
    """The answer's payload: the `prefix:` line's value, else the first line."""
    for line in lines:
        if line.startswith(prefix + ":"):
            return line.split(":", 1)[1].strip()
    return lines[0].strip() if lines else ""


def first_quoted(value: str) -> str | None:
    """The first quoted string of an answer (`+COPS: 0,0,"Vala"`), None if none or empty."""
    names = _QUOTED.findall(value)
    return names[0] if names and names[0] else None


def numbers(value: str) -> list[int]:
    """Every integer in an answer, in order (`+CSQ: 20,99` → [20, 99])."""
    return [int(n) for n in _NUMBERS.findall(value)]


def offered_storages(cpms_test: str) -> tuple[str, ...]:
    """Storages to walk from `AT+CPMS=?`'s first group: SM and/or ME, else what is there."""
    offered = _QUOTED.findall(cpms_test.split(")", 1)[0])
    chosen = tuple(s for s in ("SM", "ME") if s in offered)
    return chosen or (tuple(offered[:1]) or ("SM",))


def parse_creg(value: str) -> Registration | None:
    """`+CREG: [<n>,]<stat>` (the query's answer or the notice), None when unreadable."""
    fields = value.split(",")
    try:
        status = int(fields[1] if len(fields) >= 2 else fields[0])
    except ValueError:
        return None
    return Registration(status=status, registered=status in (1, 5), roaming=status == 5)


def parse_cmgs(lines: list[str]) -> int:
    """The TP-MR of `+CMGS: <mr>`; -1 when the modem said OK without one."""
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


def cmgl_headers(lines: list[str]) -> int:
    """How many messages a `+CMGL` answer names (`parse_cmgl` skips a header it cannot
    read: fewer messages than this means the listing is not whole)."""
    return sum(1 for line in lines if line.startswith("+CMGL:"))


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
