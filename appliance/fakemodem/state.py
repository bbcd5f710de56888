"""What a modem holds (settings, storages, sent parts) and how answers are framed."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.fakemodem.charset import to_te
from appliance.fakemodem.errors import CmeError, CmsError, PlainError
from appliance.fakemodem.faults import take_inject
from appliance.fakemodem.model import (
    CME_TEXT,
    CMS_TEXT,
    Busy,
    DelayModel,
    Fault,
    FaultKind,
    ModemConfig,
    Output,
    SentMessage,
    SentPart,
    Stored,
    join_sent,
)
from appliance.fakemodem.storage import Storages
from appliance.fakemodem.syntax import int_arg

CR, LF, BS, ESC, CTRL_Z = 0x0D, 0x0A, 0x08, 0x1B, 0x1A
MAX_LINE = 560  # longer command lines are refused (real modems have ~500-byte buffers)
MAX_PROMPT = 1024  # hex digits (or text characters) accepted after "> "


@dataclass
class Prompt:
    """The modem is collecting a message after `> ` for +CMGS."""

    mode: str  # "pdu" or "text"
    length: int = 0
    to: str = ""
    buffer: bytearray = field(default_factory=bytearray)
    overflow: bool = False
    link_open: bool = False  # the relay link was still open when AT+CMGS came (+CMMS)


@dataclass
class Settings:
    """What ATZ resets (the user profile)."""

    echo: bool = True
    cmee: int = 0
    cmgf: int = 0
    cscs: str = "IRA"
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    creg: int = 0
    cgreg: int = 0
    cusd: int = 0
    cops_format: int = 0
    csdh: int = 0
    cmms: int = 0  # 27.005 +CMMS <n>: 0 link closed after each send, 1 kept once, 2 kept
    csms: int = 0  # 27.005 +CSMS <service>: 1 makes +CMT/+CDS wait for +CNMA
    flags: dict[str, int] = field(default_factory=dict)  # +CLIP, +CRC, +CVHU: 0 or 1


Result = list[str | bytes] | Prompt  # a command's info lines, or the `> ` prompt
# A command handler: (modem, form: "test" | "read" | "set" | "exec", arguments, now).
Handler = Callable[["ModemState", str, list[str], datetime], "list[str | bytes]"]


class ModemState:
    """One modem's state and what every command uses to answer."""

    def __init__(self, config: ModemConfig | None = None, delays: DelayModel | None = None,
                 rng_seed: int | None = None) -> None:
        self.config = config or ModemConfig()
        self.delays = delays or DelayModel()
        self._rng = random.Random(rng_seed)
        self._zone = ZoneInfo(self.config.local_zone)
        self.storages = Storages(self.config)
        self.sent_parts: list[SentPart] = []
        self.faults: list[Fault] = []
        self.mr = 0  # message reference counter, mod 256
        self.concat_ref = self._rng.randrange(256)  # what the "network" numbers its parts by
        self.network_pending: list[tuple[str, str | None]] = []  # (pdu, storage) held back
        self.registered = True
        self.signal = self.config.signal
        # (command line, final result) of the last lines, for testers ("what did it ask?")
        self.history: deque[tuple[str, str]] = deque(maxlen=2000)
        # what the modem spent its time on, for benches of radio efficiency
        self.timeline: deque[Busy] = deque(maxlen=100_000)
        self.acks = {"cmt": 0, "cds": 0}  # +CNMA taken, by what they acknowledged
        self.power_on()

    def power_on(self) -> None:
        """Power-up state (also after the port vanished and came back): storages kept."""
        self.settings = Settings()
        self.cpms = ["SM", "SM", "SM"]
        self.pin_ok = self.config.pin is None
        self.cfun = 1
        self.cgatt = 1  # packet service attached (follows registration)
        self.smsc = self.config.smsc
        self._line = bytearray()
        self._line_overflow = False
        self._prompt: Prompt | None = None
        self._deferred = Output()  # notices held while a prompt is open
        self._buffered: list[bytes] = []  # notices held by CNMI mode 0
        self._inject: list[bytes] = []  # notices held for cmti-inside-answer
        self._burst: list[bytes] = []  # notices held for cmti-burst
        self.link_until: datetime | None = None  # the relay link closes then (+CMMS)
        # +CSMS=1: the +CMT/+CDS the terminal must acknowledge (+CNMA) before the next
        # one comes (27.005 §3.4.1): (its number, "cmt" or "cds", its PDU), and those the
        # network holds back meanwhile: (kind, notice bytes, PDU)
        self.unacked: tuple[int, str, str] | None = None
        self.ack_seq = 0
        self.ack_waiting: list[tuple[str, bytes, str]] = []

    @property
    def prompt_open(self) -> bool:
        """Waiting for a message after `> ` (a client that gave up leaves it so)."""
        return self._prompt is not None

    @property
    def attached(self) -> bool:
        """Registered on the network, SIM unlocked, radio on: SMS can flow."""
        return self.registered and self.pin_ok and self.cfun == 1

    def sent(self, include_incomplete: bool = False) -> list[SentMessage]:
        """Messages submitted with +CMGS, concatenated parts joined, oldest first."""
        return join_sent(self.sent_parts, include_incomplete)

    def stored(self) -> list[Stored]:
        """Every stored message, SM first, by index."""
        return self.storages.stored()

    def used(self, storage: str) -> int:
        """Messages stored in `storage`."""
        return self.storages.used(storage)

    def snapshot(self) -> dict[str, object]:
        """Settings, storages and faults for testers (JSON-able)."""
        m = self
        return {
            "echo": m.settings.echo,
            "cmee": m.settings.cmee, "cmgf": m.settings.cmgf, "cscs": m.settings.cscs,
            "cnmi": list(m.settings.cnmi), "cpms": list(m.cpms),
            "registered": m.registered, "pin_ok": m.pin_ok, "cfun": m.cfun,
            "used": {s: m.used(s) for s in ("SM", "ME")}, "capacity": dict(m.storages.capacity),
            "held_by_network": len(m.network_pending), "sent_parts": len(m.sent_parts),
            "prompt_open": m.prompt_open,
            "faults": [{"kind": f.kind, "count": f.count, "match": f.match,
                        "code": f.code, "delay": f.delay} for f in m.faults],
            "full_storages": sorted(m.storages.full),
        }

    def local(self, now: datetime) -> datetime:
        """`now` in the network's local zone (time stamps carry its offset)."""
        return now.astimezone(self._zone).replace(microsecond=0)

    def _lines(self, info: list[list[str | bytes]], delay: float, final: bytes = b"",
               fault: Fault | None = None, names: list[str] | None = None) -> Output:
        """Format the info responses (one group of lines per command: CRLF before and
        after the group, lines joined by CRLF, as V.250 says) and a final result as one
        chunk after `delay`."""
        groups = [[x if isinstance(x, bytes) else x.encode("utf-8") for x in g]
                  for g in info if g]
        if fault is not None and fault.kind == FaultKind.NON_UTF8:
            if groups:
                first = groups[0][0]
                mid = max(len(first) // 2, 1)
                groups[0][0] = first[:mid] + b"\xff\xfe" + first[mid:]
            else:
                groups.insert(0, [b"\xff\xfe"])
        segments = [b"\r\n" + b"\r\n".join(g) + b"\r\n" for g in groups]
        if self._inject and names is not None and take_inject(self.faults, names):
            notices = b"".join(self._inject)
            self._inject = []
            long_group = next((i for i, g in enumerate(groups) if len(g) > 1), None)
            if long_group is None:
                segments.insert(0, notices)
            else:  # between two lines of one command's answer
                g = groups[long_group]
                half = len(g) // 2
                segments[long_group] = (b"\r\n" + b"\r\n".join(g[:half]) + b"\r\n" + notices
                                        + b"\r\n".join(g[half:]) + b"\r\n")
        out = Output()
        body = b"".join(segments) + final
        if body:
            out.write(body, delay)
        return out

    def _final_error(self, exc: Exception) -> Output:
        out = Output()
        cmee = self.settings.cmee
        if isinstance(exc, CmeError) and cmee:
            text = str(exc.code) if cmee == 1 else CME_TEXT.get(exc.code, "unknown")
            out.write(f"\r\n+CME ERROR: {text}\r\n".encode())
        elif isinstance(exc, CmsError) and cmee:
            text = str(exc.code) if cmee == 1 else CMS_TEXT.get(exc.code, "unknown error")
            out.write(f"\r\n+CMS ERROR: {text}\r\n".encode())
        else:
            out.write(b"\r\nERROR\r\n")
        return out

    def _need_sim(self, sms: bool = True) -> None:
        if not self.pin_ok:
            raise CmsError(311) if sms else CmeError(11)

    def _te_string(self, text: str) -> bytes:
        return to_te(text, self.settings.cscs)

    def _quoted(self, text: str) -> bytes:
        return b'"' + self._te_string(text) + b'"'


# ---------------------------------------------------------------------- handler makers

def setting(name: str, attr: str, values: range, shown: str) -> Handler:
    """A command that is one number of the profile: `=?` lists `shown`, `?` reads it,
    `=n` sets it, the bare command resets it to 0."""
    def handler(m: ModemState, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return [f"{name}: {shown}"]
        if form == "read":
            return [f"{name}: {getattr(m.settings, attr)}"]
        setattr(m.settings, attr, int_arg(args, 0, values) if form == "set" else 0)
        return []
    return handler


def flag(name: str, extra: str = "") -> Handler:
    """An on/off switch of the profile that changes nothing else here (+CLIP, +CRC)."""
    def handler(m: ModemState, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return [f"{name}: (0,1)"]
        if form == "read":
            return [f"{name}: {m.settings.flags.get(name, 0)}{extra}"]
        if form == "set":
            m.settings.flags[name] = int_arg(args, 0, range(0, 2))
        return []
    return handler


def ident(value: Callable[[ModemConfig], str]) -> Handler:
    """An identity query (+CGMI...): one line from the configuration."""
    def handler(m: ModemState, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        if form != "exec":
            raise PlainError()
        return [value(m.config)]
    return handler


def accept(m: ModemState, form: str, args: list[str], now: datetime) -> list[str | bytes]:
    """A command a plain modem takes with OK and nothing to show (+CNMA, +CHUP...)."""
    return []
