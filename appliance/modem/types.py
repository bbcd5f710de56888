"""Plain data our modem interface hands out (no gsmmodem type ever leaves `appliance.modem`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Encoding = Literal["gsm7", "ucs2", "8bit"]

# `+CMGL`/`+CMGR` <stat> in PDU mode (3GPP 27.005 §3.1).
STAT_REC_UNREAD = 0
STAT_REC_READ = 1
STAT_STO_UNSENT = 2
STAT_STO_SENT = 3


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One slot of the modem's message storage, exactly as `AT+CMGL=4` listed it.

    `pdu` is the hex the modem gave (SMSC address included), undecoded: a PDU our decoder
    refuses is still listed, so indexes never shift. `length` is the TPDU length the
    modem announced (None when it gave none).
    """

    storage: str
    index: int
    status: int
    pdu: str
    length: int | None = None

    @property
    def received(self) -> bool:
        """A message the network delivered to us (as opposed to a stored outgoing one)."""
        return self.status in (STAT_REC_UNREAD, STAT_REC_READ)


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """A concatenated message's header: all parts share `ref`; `seq` runs 1..`total`."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True, slots=True)
class Deliver:
    """A decoded SMS-DELIVER (a message someone sent us).

    `sender` is `+<digits>` for an international number, the bare digits otherwise, or the
    alphanumeric sender name. `smsc_time` is the service centre's timestamp in UTC.
    `data` is the user data (after the header) as bytes for 8-bit messages.
    """

    sender: str
    smsc_time: datetime
    text: str
    encoding: Encoding
    concat: ConcatInfo | None
    smsc: str | None = None
    pid: int = 0
    dcs: int = 0
    message_class: int | None = None
    ports: tuple[int, int] | None = None
    data: bytes = b""
    status_report_indication: bool = False
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Submit:
    """A decoded SMS-SUBMIT (an outgoing message stored on the SIM, or one we built)."""

    recipient: str
    text: str
    encoding: Encoding
    concat: ConcatInfo | None
    reference: int
    request_report: bool
    smsc: str | None = None
    dcs: int = 0
    message_class: int | None = None
    data: bytes = b""
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT (`+CDS`).

    `ref` is the TP-MR the modem answered `+CMGS: <mr>` with. `status` is TP-ST
    (3GPP 23.040 §9.2.3.15): `delivered` for 0x00–0x1F; `final` is False while the
    service centre is still trying (0x20–0x3F).
    """

    ref: int
    recipient: str
    status: int
    delivered: bool
    final: bool
    smsc_time: datetime | None = None
    discharge_time: datetime | None = None
    smsc: str | None = None
    # The `AT+CNMA` a `+CDS` is owed under `+CSMS=1` (direct delivery): called once the
    # report is committed; never called (the daemon killed, the store failing), the modem
    # gives up on it and the network delivers it again. None: nothing is owed.
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    """One PDU to hand to `AT+CMGS=<tpdu_length>` (hex with a zero-length SMSC prefix)."""

    hex: str
    tpdu_length: int


@dataclass(frozen=True, slots=True)
class ModemInfo:
    """Identity of the modem and its SIM (`+CGMI`, `+CGMM`, `+CGMR`, `+CGSN`, `+CIMI`)."""

    manufacturer: str | None
    model: str | None
    revision: str | None
    imei: str | None
    imsi: str | None


@dataclass(frozen=True, slots=True)
class Registration:
    """`+CREG` <stat>: 1 home, 5 roaming (both registered), 0/2/3/4 not registered."""

    status: int
    registered: bool
    roaming: bool


@dataclass(frozen=True, slots=True)
class SendResult:
    """The TP-MR of each part `AT+CMGS` accepted, in part order (match them to `+CDS`)."""

    refs: tuple[int, ...]
