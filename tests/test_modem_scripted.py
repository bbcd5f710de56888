"""A small scripted modem on a real pty, for the wrapper's tests that need exact control
over bytes and timing (a notice inside an answer, a +CDS split across reads, a late reply,
a missing prompt). The fake modem (appliance.fakemodem) covers the realistic behaviour;
this one is a test double with a script. No tests here: imported by test_modem_*.py.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.modem.pdu import encode_submit
from appliance.modem.wrapper import Modem
from tests.helpers import wait_for

Reply = str | bytes | None
Handler = Callable[["ScriptedModem", str], Reply]



def semi_octets(digits: str) -> bytes:
    """BCD, low nibble first, F-padded (23.040 §9.1.2.3)."""
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def pack(udh: bytes, septets: list[int]) -> tuple[int, bytes]:
    """GSM-7 user data per 23.038 §6.1.2.1.1: header octets, fill bits, septets LSB first.
    Returns (UDL in septets, UD octets)."""
    head = (len(udh) * 8 + 6) // 7
    value = int.from_bytes(udh, "little")
    for i, s in enumerate(septets):
        value |= s << (7 * (head + i))
    total = head + len(septets)
    return total, value.to_bytes((total * 7 + 7) // 8, "little")


def build_deliver(
    sender: str = "+38344123456",
    *,
    septets: list[int] | None = None,
    payload: bytes = b"",
    dcs: int = 0x00,
    udh: bytes = b"",
    scts: bytes = bytes.fromhex("62117221000040"),
) -> str:
    """An SMS-DELIVER as a modem lists it (SMSC +38344000000 first), built by hand from
    the spec. GSM-7 from `septets`, else `payload` octets (UCS-2/8-bit) after `udh`
    (the UDH *with* its length octet)."""
    smsc = bytes([7, 0x91]) + semi_octets("38344000000")
    first = 0x04 | (0x40 if udh else 0)
    digits = sender.lstrip("+")
    oa = bytes([len(digits), 0x91 if sender.startswith("+") else 0x81]) + semi_octets(digits)
    if septets is not None:
        udl, ud = pack(udh, septets)
    else:
        ud = udh + payload
        udl = len(ud)
    tpdu = bytes([first]) + oa + bytes([0x00, dcs]) + scts + bytes([udl]) + ud
    return (smsc + tpdu).hex().upper()


GSM7 = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def septets_of(text: str) -> list[int]:
    """Default-alphabet codes of `text` (no extension characters)."""
    return [GSM7.index(ch) for ch in text]


# A GSM-7 SMS-DELIVER from +38344123456 saying "B" (2026-11-27 12:00:00+01:00).
PDU_B = build_deliver(septets=septets_of("B"))


def ok(*lines: str) -> str:
    """An answer: each line framed by CR LF, then OK."""
    return "".join(f"\r\n{line}\r\n" for line in lines) + "\r\nOK\r\n"


def final(result: str, *lines: str) -> str:
    """An answer ending in `result` instead of OK."""
    return "".join(f"\r\n{line}\r\n" for line in lines) + f"\r\n{result}\r\n"


class ScriptedModem:
    """Answers AT commands on the master side of a pty, by a small model plus overrides.

    `on(prefix, handler)` replaces the answer to commands starting with `prefix`; a
    handler returns the bytes to write (str is encoded latin-1) or None for silence.
    `commands` lists every command line received, in order.
    """

    def __init__(self, link: Path | None = None) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.path)
        self.commands: list[str] = []
        self.raw = bytearray()
        self.overrides: list[tuple[str, Handler, bool]] = []
        self.storage: dict[str, dict[int, tuple[int, str]]] = {"SM": {}, "ME": {}}
        self.storages_offered = ("SM", "ME")
        self.mem1 = "SM"
        self.cpin = "READY"
        self.pin = "1234"
        self.submitted: list[str] = []
        self.answer_submits = True
        self.mr = 40
        self._pdu_mode: int | None = None
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ control

    def on(self, prefix: str, handler: Handler | str | bytes, *, exact: bool = False) -> None:
        """Answer commands starting with `prefix` (or equal to it, `exact`) by `handler`
        (or a fixed string). Later overrides win."""
        fn: Handler = (lambda _m, _c: handler) if isinstance(handler, str | bytes) else handler
        self.overrides.insert(0, (prefix, fn, exact))

    def push(self, data: str | bytes) -> None:
        """Write bytes to the line now (an unsolicited notice, garbage, …)."""
        raw = data.encode("latin-1") if isinstance(data, str) else data
        os.write(self.master, raw)

    def vanish(self) -> None:
        """Close the master: the port is gone for whoever holds the slave."""
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self.master)

    def stop(self) -> None:
        if not self._stop.is_set():
            self.vanish()
        with contextlib.suppress(OSError):
            os.close(self.slave)

    def flow_control_on(self) -> bool:
        """Whether the port's termios has RTS/CTS set (as the client configured it)."""
        return bool(termios.tcgetattr(self.slave)[2] & termios.CRTSCTS)

    # ------------------------------------------------------------ loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.master, 4096)
            except OSError:
                return
            self.raw.extend(data)
            self._buf.extend(data)
            self._process()

    def _process(self) -> None:
        while True:
            if self._pdu_mode is not None:
                ends = [i for i in (self._buf.find(b"\x1a"), self._buf.find(b"\x1b")) if i >= 0]
                if not ends:
                    return
                cut = min(ends)
                body, end = bytes(self._buf[:cut]), self._buf[cut]
                del self._buf[:cut + 1]
                self._pdu_mode = None
                if end == 0x1A:
                    self.submitted.append(body.decode("ascii"))
                    self.mr = (self.mr + 1) % 256
                    if self.answer_submits:
                        self._write(ok(f"+CMGS: {self.mr}"))
                continue
            cut = self._buf.find(b"\r")
            if cut < 0:
                return
            line = bytes(self._buf[:cut]).decode("latin-1").strip()
            del self._buf[:cut + 1]
            if not line or line == "\x1b":
                continue
            line = line.lstrip("\x1b")
            self.commands.append(line)
            reply = self._answer(line)
            if reply is not None:
                self._write(reply)

    def _write(self, reply: str | bytes) -> None:
        os.write(self.master, reply.encode("latin-1") if isinstance(reply, str) else reply)

    def _answer(self, cmd: str) -> Reply:
        for prefix, handler, exact in self.overrides:
            if cmd.upper() == prefix.upper() or (
                not exact and cmd.upper().startswith(prefix.upper())
            ):
                return handler(self, cmd)
        return self.default(cmd)

    def default(self, cmd: str) -> Reply:
        """A minimal well-behaved modem."""
        up = cmd.upper()
        if up in ("AT", "ATE0", "ATE1", "ATZ", "AT+CMEE=1", "AT+CMGF=0") or up.startswith(
            "AT+CNMI="
        ):
            return ok()
        if up == "AT+CPIN?":
            return ok(f"+CPIN: {self.cpin}")
        if up.startswith("AT+CPIN="):
            if cmd.split("=", 1)[1].strip('"') == self.pin:
                self.cpin = "READY"
                return ok()
            return final("+CME ERROR: 16")
        if up == "AT+CPMS=?":
            group = ",".join(f'"{s}"' for s in self.storages_offered)
            return ok(f"+CPMS: ({group}),({group}),({group})")
        if up.startswith("AT+CPMS="):
            mem = cmd.split("=", 1)[1].split(",")[0].strip('"')
            if mem not in self.storages_offered:
                return final("+CMS ERROR: 302")
            self.mem1 = mem
            used = len(self.storage[mem])
            return ok(f"+CPMS: {used},30,{used},30,{used},30")
        if up.startswith("AT+CMGL"):
            lines: list[str] = []
            for index, (stat, pdu) in sorted(self.storage[self.mem1].items()):
                lines += [f"+CMGL: {index},{stat},,{max(len(pdu) // 2 - 8, 0)}", pdu]
            return ok(*lines)
        if up.startswith("AT+CMGR="):
            index = int(cmd.split("=", 1)[1])
            if index not in self.storage[self.mem1]:
                return final("+CMS ERROR: 321")
            stat, pdu = self.storage[self.mem1][index]
            return ok(f"+CMGR: {stat},,{len(pdu) // 2 - 8}", pdu)
        if up.startswith("AT+CMGD="):
            args = cmd.split("=", 1)[1].split(",")
            self.storage[self.mem1].pop(int(args[0]), None)
            return ok()
        if up.startswith("AT+CMGS="):
            self._pdu_mode = int(cmd.split("=", 1)[1])
            return "\r\n> "
        if up == "AT+CSQ":
            return ok("+CSQ: 20,99")
        if up == "AT+CREG?":
            return ok("+CREG: 0,1")
        if up == "AT+COPS?":
            return ok('+COPS: 0,0,"Vala",2')
        if up == "AT+CSCA?":
            return ok('+CSCA: "+38344000000",145')
        if up == "AT+CGMI":
            return ok("Scripted")
        if up == "AT+CGMM":
            return ok("PTY-1")
        if up == "AT+CGMR":
            return ok("1.0")
        if up == "AT+CGSN":
            return ok("356938035643809")
        if up == "AT+CIMI":
            return ok("295011234567890")
        return final("ERROR")


@pytest.fixture
def scripted() -> Iterator[ScriptedModem]:
    sm = ScriptedModem()
    yield sm
    sm.stop()


def make_modem(port: str, **kwargs: object) -> Modem:
    """A Modem with short timeouts suited to tests."""
    params: dict[str, object] = {"command_timeout": 2.0, "send_timeout": 3.0,
                                 "prompt_timeout": 1.0}
    params.update(kwargs)
    return Modem(port, **params)  # type: ignore[arg-type]


@pytest.fixture
def modem(scripted: ScriptedModem) -> Iterator[Modem]:
    m = make_modem(scripted.path)
    m.open()
    yield m
    m.close()


def submit_pdus(to: str, text: str) -> list[str]:
    """Hex of SUBMIT PDUs, for storing as if sent earlier."""
    return [p.hex for p in encode_submit(to, text)]


__all__ = ["GSM7", "PDU_B", "ScriptedModem", "build_deliver", "final", "make_modem",
           "modem", "ok", "pack", "scripted", "septets_of", "submit_pdus", "wait_for"]
