"""What `Modem.open()` runs on a fresh link: the short init (field notes #15: no voice
setup, no forced ME storage, no recursion), the SIM's `+CPIN` state and PIN (given at most
once per process and port: three wrong PINs lock a SIM behind its PUK), the storages it
offers, and the first `+CNMI` setting the modem accepts."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

from appliance.modem.at_answers import offered_storages
from appliance.modem.channel import Channel
from appliance.modem.errors import CmeError, CmsError, CommandError, PinRequired

log = logging.getLogger(__name__)

# CNMI settings tried in order: +CMTI for stored messages and status reports stored too
# (ds=2, +CDSI: one that comes while the daemon is down waits on the modem; a +CDS would be
# lost, and the interrupted send resent: issue 16), then routed +CDS, then the variants
# modems that refuse those usually accept.
_CNMI_CHOICES = ("2,1,0,2,0", "1,1,0,2,0", "2,1,0,1,0", "1,1,0,1,0", "2,1,0,0,0",
                 "1,1,0,0,0")
# Direct delivery (+CSMS=1) routes reports as +CDS first (ds=1): acknowledged by +CNMA
# only once applied, a report the daemon never took (killed, the store failing) comes
# again, as a +CMT does, and it costs one +CNMA instead of a share of a listing and a
# delete (issue 17); then stored reports as above, for a modem that refuses ds=1.
_DIRECT_CHOICES = ("2,2,0,1,0", "1,2,0,1,0", "2,2,0,2,0", "1,2,0,2,0", "2,2,0,0,0",
                   "1,2,0,0,0")
_SIM_BUSY = (14, "SIM busy")
# (port, PIN digest) pairs a SIM refused in this process: a daemon that reopens a modem
# every minute must not burn the SIM's three PIN attempts. A new PIN (file edited) is tried.
_REJECTED_PINS: set[tuple[str, str]] = set()
_REJECTED_LOCK = threading.Lock()


def cpin_state(ch: Channel) -> str:
    """`+CPIN?` (READY, SIM PIN, SIM PUK, …), waiting out a SIM still initialising."""
    for _ in range(10):
        try:
            return ch.value("AT+CPIN?", "+CPIN").strip('"') or "UNKNOWN"
        except CmeError as exc:
            if exc.code not in _SIM_BUSY:
                raise
        ch.pause(0.5)
    raise CmeError(14)


def unlock(ch: Channel, pin: str | None) -> None:
    """Leave the SIM READY, giving `pin` when it asks; `PinRequired` otherwise."""
    state = cpin_state(ch)
    if state == "READY":
        return
    if state != "SIM PIN" or pin is None:
        raise PinRequired(state)
    key = (ch.port, hashlib.sha256(pin.encode()).hexdigest())
    with _REJECTED_LOCK:
        if key in _REJECTED_PINS:
            log.error("%s: this PIN was refused before; not trying it again", ch.name)
            raise PinRequired(state)
    try:
        ch.cmd(f'AT+CPIN="{pin}"')
    except (CmeError, CommandError) as exc:
        # Never retried, not even by a later reopen in this process.
        with _REJECTED_LOCK:
            _REJECTED_PINS.add(key)
        raise PinRequired(state) from exc
    for _ in range(20):
        state = cpin_state(ch)
        if state == "READY":
            return
        ch.pause(0.5)
    raise PinRequired(state)


def give_pin(ch: Channel, pin: str) -> None:
    """`AT+CPIN` now, on request (not retried); `PinRequired` when the SIM refuses it."""
    try:
        ch.cmd(f'AT+CPIN="{pin}"')
    except (CmeError, CommandError) as exc:
        raise PinRequired("SIM PIN") from exc


def probe_sim(ch: Channel, pin: str | None) -> str:
    """The SIM's state for inspection (`appliance doctor`): unlocked when it can be,
    never failing on a locked or missing SIM."""
    try:
        unlock(ch, pin)
    except PinRequired as exc:
        return exc.state
    except CmeError as exc:  # 10: SIM not inserted, 13: SIM failure
        return f"NOT INSERTED (+CME ERROR: {exc.code})"
    return "READY"


def detect_storages(ch: Channel) -> tuple[str, ...]:
    """Storages `list_stored()` walks, from `AT+CPMS=?` (SM when the modem won't say)."""
    try:
        return offered_storages(ch.value("AT+CPMS=?", "+CPMS"))
    except (CommandError, CmeError, CmsError):
        return ("SM",)


@dataclass(frozen=True, slots=True)
class Setup:
    """What the init found: the SIM's state, the storages to walk, the `+CNMI` in force
    (None: the modem refused them all, or a probe set none)."""

    sim_state: str
    storages: tuple[str, ...]
    cnmi: str | None
    direct: bool = False  # +CMT direct delivery with +CNMA (`modem.direct`)


def direct_delivery(ch: Channel) -> str | None:
    """`AT+CSMS=1` (so +CMT waits for +CNMA), then the first `+CNMI` choice with mt=2 the
    modem takes; None (and `+CSMS` back to 0) when it takes neither."""
    try:
        answer = ch.value("AT+CSMS=1", "+CSMS")
    except (CommandError, CmeError, CmsError):
        return None
    if not answer.startswith("1"):  # <mt> 0: no acknowledged mobile-terminated SMS
        ch.attempt("AT+CSMS=0")
        return None
    for choice in _DIRECT_CHOICES:
        try:
            ch.cmd(f"AT+CNMI={choice}")
        except (CommandError, CmeError, CmsError):
            continue
        return choice
    ch.attempt("AT+CSMS=0")
    return None


def initialise(ch: Channel, pin: str | None, *, probe: bool = False,
               direct: bool = False) -> Setup:
    """The short init. `probe`: for inspection only (`appliance doctor`), a locked SIM is
    reported in `sim_state` instead of raising, and no `+CNMI` is set. `direct`: +CMT
    direct delivery when the modem supports it (stored messages otherwise). Raises
    `PinRequired`, `CmeError`, `ModemTimeout`, `ModemGone`."""
    link = ch.require()
    # A previous run may have died at the `> ` prompt: ESC cancels it; the resync that
    # follows swallows whatever the modem says about it.
    link.write_raw(b"\x1b")
    link.mark_dirty()
    ch.cmd("ATE0")
    ch.attempt("AT+CMEE=1")
    if probe:
        state = probe_sim(ch, pin)
        if state != "READY":
            return Setup(state, ("SM",), None)
        ch.attempt("AT+CMGF=0")
        return Setup(state, detect_storages(ch), None)
    unlock(ch, pin)
    ch.cmd("AT+CMGF=0")
    storages = detect_storages(ch)
    if direct:
        chosen = direct_delivery(ch)
        if chosen is not None:
            return Setup("READY", storages, chosen, direct=True)
        log.warning("%s: modem refuses direct delivery (AT+CSMS=1, +CNMI mt=2); "
                    "receiving stored messages", ch.name)
    for choice in _CNMI_CHOICES:
        try:
            ch.cmd(f"AT+CNMI={choice}")
        except (CommandError, CmeError, CmsError):
            continue
        if not choice.endswith(",2,0"):
            log.warning("%s: modem refuses stored status reports; +CNMI=%s: a report that "
                        "comes while the daemon is down is lost (its message resent after "
                        "the grace)", ch.name, choice)
        return Setup("READY", storages, choice)
    log.warning("%s: modem refuses every +CNMI setting; polling only", ch.name)
    return Setup("READY", storages, None)
