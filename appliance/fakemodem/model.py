"""Plain data of the fake modem: configuration, stored and sent messages, faults, output."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from appliance.fakemodem.pdu import PduError, decode_deliver, message_type

# 27.005 <stat> values in PDU mode and their text-mode names.
# One fault parameter as the control socket and the CLI carry it (docs/fake-modem.md).
FaultParam: TypeAlias = "str | int | float | None"

STAT_NAMES = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT", 4: "ALL"}
STAT_CODES = {v: k for k, v in STAT_NAMES.items()}

CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 16: "incorrect password",
    30: "no network service", 50: "incorrect parameters", 100: "unknown",
}
CMS_TEXT = {
    300: "ME failure", 302: "operation not allowed", 303: "operation not supported",
    304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
    310: "SIM not inserted", 311: "SIM PIN required", 320: "memory failure",
    321: "invalid memory index", 322: "memory full", 330: "SMSC address unknown",
    331: "no network service", 332: "network timeout", 500: "unknown error",
}


@dataclass(frozen=True)
class Chunk:
    """Bytes the modem writes, after waiting `delay` seconds (a slow answer)."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True)
class Busy:
    """One command line (or a message after `> `) as the modem spent time on it:
    received `at`, answered after `seconds` of model time (real delay / time_scale)."""

    at: datetime
    command: str
    seconds: float


@dataclass(frozen=True)
class Timer:
    """Something the front must hand back to `Interpreter.fire` after `delay` seconds."""

    delay: float
    kind: str
    params: tuple[tuple[str, str | int], ...] = ()


@dataclass
class Output:
    """What one step of the interpreter produced: bytes to write and timers to arm."""

    chunks: list[Chunk] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)

    def write(self, data: bytes, delay: float = 0.0) -> None:
        """Append bytes (merging with the previous chunk when there is no delay)."""
        if not data and delay <= 0:
            return
        if self.chunks and delay <= 0:
            last = self.chunks[-1]
            self.chunks[-1] = Chunk(last.data + data, last.delay)
        else:
            self.chunks.append(Chunk(data, delay))

    def extend(self, other: Output) -> None:
        """Append another output after this one."""
        for c in other.chunks:
            self.write(c.data, c.delay)
        self.timers.extend(other.timers)

    @property
    def data(self) -> bytes:
        """All bytes, delays ignored (for tests of the pure interpreter)."""
        return b"".join(c.data for c in self.chunks)


@dataclass(frozen=True)
class ModemConfig:
    """What a fake modem is: identity, SIM, network, storages, status reports."""

    manufacturer: str = "FAKEMODEM"
    model: str = "FM-1 GSM"
    revision: str = "FM1.0.0"
    imei: str = "356938035643809"
    imsi: str = "221011234567890"
    own_number: str = "+38344000999"
    smsc: str = "+38344000100"
    operator_long: str = "Vala"
    operator_short: str = "Vala"
    operator_numeric: str = "22101"
    pin: str | None = None
    signal: int = 20
    sm_capacity: int = 20
    me_capacity: int = 50
    sm_first_index: int = 1
    me_first_index: int = 0
    status_reports: bool = True
    # +CNMI <ds>=1 (reports routed as +CDS): False refuses it (+CMS ERROR 303), as a modem
    # that only stores status reports (ds=2) does
    routed_reports: bool = True
    local_zone: str = "Europe/Belgrade"
    # +CMMS (27.005 §3.5.6): whether the modem (and its network) keeps the relay link
    # open between sends; False answers ERROR to AT+CMMS=n, as many sticks do.
    cmms: bool = True
    # `AT+CMGD=<index>,<flag>` with flag 1-4 (delete by status): False answers OK and
    # deletes nothing, as some modems do (a client must notice by what is left)
    cmgd_flags: bool = True
    # model seconds the relay link stays open after a send's answer (27.005: 1-5 s)
    link_timeout: float = 3.0
    # +CSMS=1 direct delivery (+CMT): model seconds the modem waits for +CNMA before it
    # gives up (RP-ERROR to the network, +CNMI mt and ds to 0), and after which the
    # network delivers that message again
    ack_timeout: float = 15.0
    redelivery_after: float = 10.0


@dataclass
class Stored:
    """One message in a storage (PDU exactly as the network gave it, SMSC included)."""

    storage: str
    index: int
    stat: int
    pdu: str
    at: datetime

    def to_json(self) -> dict[str, str | int | None]:
        """A JSON-able view."""
        view: dict[str, str | int | None] = {
                                "storage": self.storage, "index": self.index,
                                "stat": STAT_NAMES.get(self.stat, str(self.stat)),
                                "pdu": self.pdu, "at": self.at.isoformat(),
                                "type": message_type(self.pdu)}
        try:
            d = decode_deliver(self.pdu)
        except (PduError, ValueError, IndexError):
            return view
        view.update({"from": d.sender, "text": d.text})
        if d.concat:
            view["part"] = f"{d.concat.seq}/{d.concat.total} ref {d.concat.ref}"
        return view


@dataclass(frozen=True)
class SentPart:
    """One SMS-SUBMIT the modem accepted."""

    to: str
    text: str
    mr: int
    alphabet: str
    at: datetime
    pdu: str
    concat: tuple[int, int, int, int] | None = None  # ref, total, seq, bits
    srr: bool = False


@dataclass(frozen=True)
class SentMessage:
    """What a recipient gets: the parts of one concatenated message joined."""

    to: str
    text: str
    parts: int
    at: datetime
    refs: tuple[int, ...] = ()
    alphabet: str = "gsm7"
    complete: bool = True

    def to_json(self) -> dict[str, str | int | bool | list[int]]:
        """The stable JSON line of `fake-modem sent --json` (plus a few extra keys)."""
        return {"to": self.to, "text": self.text, "parts": self.parts,
                "at": self.at.isoformat(), "refs": list(self.refs),
                "alphabet": self.alphabet, "complete": self.complete}


def join_sent(parts: list[SentPart], include_incomplete: bool = False) -> list[SentMessage]:
    """Group submitted parts into messages (by recipient and concatenation reference),
    oldest first by the time the last part went out."""
    groups: list[list[SentPart]] = []
    open_groups: dict[tuple[str, int, int, int], list[SentPart]] = {}
    for p in parts:
        if p.concat is None:
            groups.append([p])
            continue
        ref, total, seq, bits = p.concat
        key = (p.to, ref, total, bits)
        group = open_groups.get(key)
        if group is None or any(q.concat and q.concat[2] == seq for q in group):
            group = []
            open_groups[key] = group
            groups.append(group)
        group.append(p)
    out: list[SentMessage] = []
    for g in groups:
        first = g[0]
        total = first.concat[1] if first.concat else 1
        ordered = sorted(g, key=lambda q: q.concat[2] if q.concat else 0)
        complete = len({q.concat[2] if q.concat else 1 for q in g}) >= total
        if not complete and not include_incomplete:
            continue
        out.append(SentMessage(
            to=first.to, text="".join(q.text for q in ordered), parts=len(g),
            at=max(q.at for q in g), refs=tuple(q.mr for q in g),
            alphabet=first.alphabet, complete=complete))
    out.sort(key=lambda m: m.at)
    return out


class FaultKind(StrEnum):
    """What a tester can break (docs/fake-modem.md says what each does)."""

    NO_ANSWER = "no-answer"
    ERROR = "error"
    CMS_ERROR = "cms-error"
    CME_ERROR = "cme-error"
    LATE = "late"
    NON_UTF8 = "non-utf8"
    GARBAGE = "garbage"
    REGISTRATION_LOST = "registration-lost"
    REGISTRATION_RESTORED = "registration-restored"
    SIM_FULL = "sim-full"
    CMTI_INSIDE_ANSWER = "cmti-inside-answer"
    CMTI_BURST = "cmti-burst"
    SIGNAL = "signal"


@dataclass
class Fault:
    """An armed fault: applies to the next `count` commands matching `match`."""

    kind: FaultKind
    count: int = 1
    match: str | None = None
    code: int | None = None
    delay: float = 0.0

    def matches(self, names: list[str]) -> bool:
        """Whether a command line with these command names is affected."""
        if self.match is None:
            return True
        want = self.match.upper().removeprefix("AT")
        return any(n.upper().startswith(want) for n in names)


# model seconds of a send spent setting up the relay link (an SDCCH, authentication and
# ciphering before the CP-DATA): what +CMMS saves on every send after the first of a run
LINK_SETUP = 0.8


class DelayModel:
    """How long a modem takes to answer: nothing (`none`) or a seeded `realistic` model."""

    def __init__(self, mode: str = "none", seed: int | None = None,
                 time_scale: float = 1.0) -> None:
        if mode not in ("none", "realistic"):
            raise ValueError(f"modem delay must be none or realistic, got {mode!r}")
        if not time_scale > 0:  # also refuses NaN
            raise ValueError(f"time_scale must be greater than 0, got {time_scale!r}")
        self.mode = mode
        self.time_scale = time_scale  # every delay is multiplied by it (0.01: 100x faster)
        self._rng = random.Random(seed)
        # its own stream: the same seed gives the same +CMGS times whatever else a client
        # asks (so two systems, or two versions, are measured against one physical limit)
        self._submit_rng = random.Random(None if seed is None else seed + 1)

    def command(self, name: str, stored_count: int) -> float:
        """Delay before the final answer of a command (not +CMGS)."""
        if self.mode == "none":
            return 0.0
        if name == "+CMGL":
            base = 0.05 + 0.02 * stored_count + self._rng.uniform(0, 0.05)
        elif name in ("+CMGR", "+CMGD"):
            base = self._rng.uniform(0.03, 0.15)
        elif name in ("+COPS", "+CPIN", "+CFUN"):
            base = self._rng.uniform(0.05, 0.3)
        else:
            base = self._rng.uniform(0.005, 0.03)
        return base * self.time_scale

    def submit(self, link_open: bool = False) -> float:
        """Delay of one +CMGS part on a working network: 1-4 s, of which the first
        `LINK_SETUP` set up the relay link (channel, authentication, ciphering); a send on
        a link kept open by +CMMS pays only the rest. One draw per send either way, so
        the stream stays the same whatever the link did."""
        if self.mode == "none":
            return 0.0
        seconds = self._submit_rng.uniform(1.0, 4.0)
        if link_open:
            seconds -= LINK_SETUP
        return seconds * self.time_scale

    def part_gap(self) -> float:
        """Time between the arrivals of two parts of one concatenated message."""
        return (0.3 if self.mode == "none" else self._rng.uniform(1.0, 3.0)) * self.time_scale

    def status_report(self) -> float:
        """Delay between a submit and its status report."""
        return (0.2 if self.mode == "none" else self._rng.uniform(10.0, 12.0)) * self.time_scale
