"""Exceptions of our modem interface (no gsmmodem exception ever leaves `appliance.modem`).

`+CMS ERROR` codes (3GPP 27.005 §3.2.5; 0–127 are 24.011 RP causes, 128–255 23.040 TP-FCS
values, 300–511 27.005's own, 512+ vendor specific) are split into *transient* (the outbox
retries with backoff) and *permanent* (the outbox gives up on that message at once):

Transient (the outbox retries with backoff):
- RP causes 27 destination out of service, 38 network out of order, 41 temporary
  failure, 42 congestion, 47 resources unavailable, 98 message not compatible with
  protocol state, 111 protocol error, 127 interworking;
- TP-FCS 192 (0xC0) SC busy, 194 SC system failure, 208 SIM SMS storage full,
  211 memory capacity exceeded, 212 SIM toolkit busy, 213 data download error,
  255 unspecified;
- 300 ME failure, 314 SIM busy, 315 SIM wrong (often a transient read error),
  320 memory failure, 331 no network service, 332 network timeout, 340 no +CNMA
  acknowledgement expected, 500 unknown error;
- 512 and above (vendor specific: 512 MM establishment failure, 513 lower layer failure,
  514 CP error, 515 please wait, …): mostly radio or stack hiccups.

Permanent (the outbox gives up on that message):
- RP causes 1 unassigned number, 8 operator barring, 10 call barred, 21 transfer
  rejected, 28 unidentified subscriber, 29 facility rejected, 30 unknown subscriber,
  50 facility not subscribed, 69 not implemented, 95–97 and 99 invalid message;
- TP-FCS 128–191 (PID/DCS/command problems: the message itself is wrong),
  193 no SC subscription, 195 invalid SME address, 196 destination barred,
  197 duplicate rejected, 198–199 validity period unsupported;
- 301 service reserved, 302 operation not allowed, 303 not supported, 304 invalid PDU
  mode parameter, 305 invalid text mode parameter, 310 SIM not inserted, 311–318 PIN/PUK
  needed, 321 invalid memory index, 322 memory full, 330 SMSC address unknown.

Unknown codes between 0 and 511 not listed above count as permanent (a retry would send
the same bytes into the same refusal); the outbox caps retries either way.
"""

from __future__ import annotations

_TRANSIENT_CMS: frozenset[int] = frozenset(
    {27, 38, 41, 42, 47, 98, 111, 127,
     192, 194, 208, 211, 212, 213, 255,
     300, 314, 315, 320, 331, 332, 340, 500}
)


def cms_is_transient(code: int) -> bool:
    """Whether a `+CMS ERROR: <code>` is worth retrying later (see the module's table)."""
    return code >= 512 or code in _TRANSIENT_CMS


class ModemError(Exception):
    """Anything that went wrong talking to the modem.

    `sent_refs`: when a multi-part send fails part-way, the TP-MRs of the parts the modem
    had already accepted (those went out).
    """

    sent_refs: tuple[int, ...] = ()


class ModemTimeout(ModemError):
    """The modem did not answer in time (the link is resynchronised before the next command)."""


class ModemGone(ModemError):
    """The port vanished or was closed; `Modem.reopen()` is the way back."""


class PinRequired(ModemError):
    """The SIM wants a PIN (or PUK) that was not given, or that it refused.

    `state` is the `+CPIN:` answer, e.g. ``"SIM PIN"`` or ``"SIM PUK"``.
    """

    def __init__(self, state: str) -> None:
        super().__init__(f"SIM needs {state}")
        self.state = state


class CmsError(ModemError):
    """`+CMS ERROR: <code>` (a message-service error). `.transient` says whether to retry."""

    def __init__(self, code: int, text: str | None = None) -> None:
        super().__init__(f"+CMS ERROR: {text if text is not None else code}")
        self.code = code
        self.text = text

    @property
    def transient(self) -> bool:
        """True when a later retry may succeed (network, SIM or SMSC busy)."""
        return cms_is_transient(self.code)


class CmeError(ModemError):
    """`+CME ERROR: <code>` (an equipment error); `code` is an int, or the text a modem in
    verbose mode sends (`"SIM not inserted"`)."""

    def __init__(self, code: int | str) -> None:
        super().__init__(f"+CME ERROR: {code}")
        self.code = code


class CommandError(ModemError):
    """A plain final `ERROR` (or `COMMAND NOT SUPPORT`, `NO CARRIER`, `BUSY`, …).

    `result` is the final result line as the modem sent it.
    """

    def __init__(self, command: str, result: str) -> None:
        super().__init__(f"{command}: {result}")
        self.command = command
        self.result = result


class PduError(ValueError):
    """A PDU that cannot be decoded (garbage, truncated, unsupported) or encoded."""


def raise_for_final(command: str, final: str) -> None:
    """Turn a final result line other than `OK` into our exception."""
    if final == "OK":
        return
    kind, _, detail = final.partition(":")
    detail = detail.strip()
    if kind == "+CMS ERROR":
        if detail.isdigit():
            raise CmsError(int(detail))
        raise CmsError(500, detail)  # text form: unknown code, counted as transient
    if kind == "+CME ERROR":
        raise CmeError(int(detail) if detail.isdigit() else detail)
    raise CommandError(command, final)
