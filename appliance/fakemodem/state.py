"""What a modem holds (settings, storages, sent parts) and how answers are framed."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.fakemodem.charset import to_te
from appliance.fakemodem.errors import CmeError, CmsError
from appliance.fakemodem.model import (
    CME_TEXT,
    CMS_TEXT,
    DelayModel,
    Fault,
    ModemConfig,
    Output,
    SentMessage,
    SentPart,
    Stored,
    join_sent,
)

CR, LF, BS, ESC, CTRL_Z = 0x0D, 0x0A, 0x08, 0x1B, 0x1A
MAX_LINE = 560  # longer command lines are refused (real modems have ~500-byte buffers)
MAX_PROMPT = 1024  # hex digits (or text characters) accepted after "> "
STORAGES = ("SM", "ME")


@dataclass
class Prompt:
    """The modem is collecting a message after `> ` for +CMGS."""

    mode: str  # "pdu" or "text"
    length: int = 0
    to: str = ""
    buffer: bytearray = field(default_factory=bytearray)
    overflow: bool = False


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


class ModemState:
    """One modem's state and what every command uses to answer."""

    def __init__(self, config: ModemConfig | None = None, delays: DelayModel | None = None,
                 rng_seed: int | None = None) -> None:
        self.config = config or ModemConfig()
        self.delays = delays or DelayModel()
        self._rng = random.Random(rng_seed)
        self._zone = ZoneInfo(self.config.local_zone)
        self.capacity = {"SM": self.config.sm_capacity, "ME": self.config.me_capacity}
        self.first_index = {"SM": self.config.sm_first_index, "ME": self.config.me_first_index}
        self.store: dict[str, dict[int, Stored]] = {"SM": {}, "ME": {}}
        self.sent_parts: list[SentPart] = []
        self.faults: list[Fault] = []
        self.mr = 0  # message reference counter, mod 256
        self.concat_ref = self._rng.randrange(256)  # what the "network" numbers its parts by
        self.network_pending: list[tuple[str, str | None]] = []  # (pdu, storage) held back
        self.registered = True
        self.full_storages: set[str] = set()  # sim-full fault: refuse new messages
        self.signal = self.config.signal
        # (command line, final result) of the last lines, for testers ("what did it ask?")
        self.history: deque[tuple[str, str]] = deque(maxlen=2000)
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
        return [m for s in STORAGES for _, m in sorted(self.store[s].items())]

    def used(self, storage: str) -> int:
        """Messages stored in `storage`."""
        return len(self.store[storage])

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
        if fault is not None and fault.kind == "non-utf8":
            if groups:
                first = groups[0][0]
                mid = max(len(first) // 2, 1)
                groups[0][0] = first[:mid] + b"\xff\xfe" + first[mid:]
            else:
                groups.insert(0, [b"\xff\xfe"])
        segments = [b"\r\n" + b"\r\n".join(g) + b"\r\n" for g in groups]
        if self._inject and names is not None and self._inject_fault_matches(names):
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

    def _inject_fault_matches(self, names: list[str]) -> bool:
        for f in self.faults:
            if f.kind == "cmti-inside-answer" and f.matches(names):
                f.count -= 1
                if f.count <= 0:
                    self.faults.remove(f)
                return True
        return False

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

    def _take_fault(self, names: list[str], *, at_submit: bool) -> Fault | None:
        """The first armed per-command fault for this line (counted down), if any."""
        for f in self.faults:
            if f.kind not in ("no-answer", "error", "cms-error", "cme-error", "late",
                              "non-utf8"):
                continue
            submit_fault = f.match is not None and f.match.upper().removeprefix(
                "AT").startswith("+CMGS")
            if submit_fault != at_submit or not f.matches(names):
                continue
            f.count -= 1
            if f.count <= 0:
                self.faults.remove(f)
            return f
        return None

    def _need_sim(self, sms: bool = True) -> None:
        if not self.pin_ok:
            raise CmsError(311) if sms else CmeError(11)

    def _te_string(self, text: str) -> bytes:
        return to_te(text, self.settings.cscs)

    def _quoted(self, text: str) -> bytes:
        return b'"' + self._te_string(text) + b'"'
