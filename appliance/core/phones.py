"""Kosovo phone numbers: normalise what people type to E.164, tell the operator, mask for logs.

Pure functions over strings and the numbering plan in `core.rules` (DESIGN §4). Inside the
program a number is an E.164 string (`+38344123456`); national forms exist only at the edges.
"""

from __future__ import annotations

import re

from appliance.core.rules import Operator

__all__ = [
    "COUNTRY_CODE",
    "LONG_FIXED_PREFIXES",
    "Operator",
    "mask",
    "national",
    "normalize",
    "nsn_of",
    "operator_of",
    "prefix_operator",
    "sender_e164",
]

COUNTRY_CODE = "383"

# 9-digit fixed-line national numbers (0280…, 0290…, 0390… + 6 digits), as libphonenumber's
# Kosovo metadata has them: (?:2[89]|39)0\d{6}. Every other number of the plan has 8 digits.
LONG_FIXED_PREFIXES: tuple[str, ...] = ("280", "290", "390")

# Country codes Kosovo numbers lived under before +383, and which national prefixes moved:
# Vala +377 44/45 (Monaco's code), IPKO +386 43/49 (Slovenia's), fixed +381 28/29/38/39
# (Serbia's). Only these prefixes move; anything else under those codes stays foreign.
_OLD_CODES: dict[str, tuple[str, ...]] = {
    "377": ("44", "45"),
    "386": ("43", "49"),
    "381": ("28", "29", "38", "39"),
}

# Characters people put inside a number: spaces, dashes, dots, slashes, brackets.
_SEPARATORS = re.compile(r"[\s\-./()\u00a0\u2010-\u2015]")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_BARE_MOBILE = re.compile(r"4[3-9][0-9]{6}", re.ASCII)
_BARE_FIXED = re.compile(r"[23][89][0-9]{6}|(?:2[89]|39)0[0-9]{6}", re.ASCII)


def _kosovo_nsn_ok(nsn: str) -> bool:
    # Syntactic check only (length, no trunk 0); operator_of() checks it against the plan.
    return len(nsn) in (8, 9) and nsn[0] != "0"


def _from_international(digits: str) -> str | None:
    """E.164 from the digits after `+` or `00`, moving old Kosovo codes to +383."""
    if not 7 <= len(digits) <= 15 or digits[0] == "0":
        return None
    if digits.startswith(COUNTRY_CODE):
        nsn = digits[len(COUNTRY_CODE):]
        if nsn.startswith("0"):  # "+383 (0)44 …" and "+383044…": a trunk 0 people keep
            nsn = nsn[1:]
        return "+" + COUNTRY_CODE + nsn if _kosovo_nsn_ok(nsn) else None
    for code, prefixes in _OLD_CODES.items():
        if digits.startswith(code):
            nsn = digits[len(code):]
            if nsn.startswith(prefixes) and (
                len(nsn) == 8 or (len(nsn) == 9 and nsn.startswith(LONG_FIXED_PREFIXES))
            ):
                return "+" + COUNTRY_CODE + nsn
    return "+" + digits


_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def sender_e164(address: str) -> str | None:
    """The sender address exactly as the network gave it, when it is an E.164 number.

    DESIGN §2 invariant 8: a sender is matched by its full international number only. None
    of `normalize`'s forgiveness applies here: `+37744…` is Monaco today and `+38649…`
    Slovenia, and a national, `00…`, bare-country-code or trunk-zero form is not what an
    operator puts in a genuine customer's originating address. Anything else (those forms,
    alphanumeric names, junk) is no number at all, so it can never match an agreement.
    """
    return address if _E164.fullmatch(address) else None


def normalize(text: str) -> str | None:
    """E.164 (`+383…`) for a number written as people do, or None when it is not a number.

    Accepts `044123456`, `044 123 456`, `+38344123456`, `0038344123456`, `38344123456`,
    the bare national number `44123456`, and the old +377/+386/+381 forms of Kosovo numbers
    (moved to +383 with the same national number). A foreign number comes back as its own
    E.164; `operator_of` then says FOREIGN.
    """
    s = text.strip().replace("(0)", "")
    s = _SEPARATORS.sub("", s)
    if not s:
        return None
    plus = s.startswith("+")
    if plus:
        s = s[1:]
    if not s.isascii() or not s.isdigit():
        return None
    if plus:
        return _from_international(s)
    if s.startswith("00"):
        return _from_international(s[2:])
    if s.startswith("0"):
        nsn = s[1:]
        return "+" + COUNTRY_CODE + nsn if _kosovo_nsn_ok(nsn) else None
    if s.startswith(COUNTRY_CODE) and len(s) in (11, 12):
        return _from_international(s)
    for code in _OLD_CODES:
        if s.startswith(code) and len(s) in (11, 12):
            moved = _from_international(s)
            # Without a `+` an old code is only trusted when it is a Kosovo number.
            return moved if moved is not None and moved.startswith("+" + COUNTRY_CODE) else None
    if _BARE_MOBILE.fullmatch(s) or _BARE_FIXED.fullmatch(s):
        return "+" + COUNTRY_CODE + s
    return None


def nsn_of(e164: str) -> str | None:
    """The national significant number of a +383 number (`44123456`), else None."""
    prefix = "+" + COUNTRY_CODE
    if not e164.startswith(prefix):
        return None
    nsn = e164[len(prefix):]
    return nsn if nsn.isascii() and nsn.isdigit() else None


def prefix_operator(nsn: str, plan: tuple[tuple[str, Operator], ...]) -> Operator | None:
    """The operator whose plan prefix is the longest one `nsn` starts with (length unchecked)."""
    best: tuple[int, Operator] | None = None
    for prefix, operator in plan:
        if nsn.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), operator)
    return best[1] if best else None


def _length_ok(nsn: str, operator: Operator) -> bool:
    if operator is Operator.IPKO_FIXED:
        return len(nsn) == 8 or (len(nsn) == 9 and nsn.startswith(LONG_FIXED_PREFIXES))
    return len(nsn) == 8


def operator_of(e164: str, plan: tuple[tuple[str, Operator], ...]) -> Operator:
    """Who runs `e164` by the numbering plan: FOREIGN outside +383, UNKNOWN when the
    prefix is not in the plan or the length does not fit it."""
    if not e164.startswith("+"):
        return Operator.UNKNOWN
    nsn = nsn_of(e164)
    if nsn is None:
        digits = e164[1:]
        return Operator.FOREIGN if digits.isascii() and digits.isdigit() else Operator.UNKNOWN
    operator = prefix_operator(nsn, plan)
    if operator is None or not _length_ok(nsn, operator):
        return Operator.UNKNOWN
    return operator


# A modem's SIM operator (config: vala | ipko) → the operators it reaches on-net.
_ON_NET: dict[str, frozenset[Operator]] = {
    "vala": frozenset({Operator.VALA, Operator.Z_MOBILE}),
    "ipko": frozenset({Operator.IPKO_MOBILE, Operator.IPKO_FIXED}),
}


def on_net(sim_operator: str | None, operator: Operator) -> bool:
    """True when a modem whose SIM is `sim_operator`'s sends to `operator` on-net."""
    return sim_operator is not None and operator in _ON_NET.get(sim_operator, frozenset())


def national(e164: str) -> str:
    """The national form customers know (`044123456`) of a +383 number; others unchanged."""
    nsn = nsn_of(e164)
    return "0" + nsn if nsn else e164


def _international_digits(text: str) -> str | None:
    """The digits after `+` of the number `text` is written as (no old-code moving: in a log
    a +377 sender must stay +377), or None when it is no recognisable phone number."""
    digits = "".join(_DIGITS.findall(text))
    if text.lstrip("( ").startswith("+"):
        intl = digits
    elif digits.startswith("00"):
        intl = digits[2:]
    elif digits.startswith("0") and _kosovo_nsn_ok(digits[1:]):
        intl = COUNTRY_CODE + digits[1:]
    elif digits.startswith(COUNTRY_CODE) and len(digits) in (11, 12, 13):
        intl = digits
    elif _BARE_MOBILE.fullmatch(digits) or _BARE_FIXED.fullmatch(digits):
        intl = COUNTRY_CODE + digits
    else:
        return None
    if intl.startswith(COUNTRY_CODE + "0"):  # "+383 (0)44 …": the trunk 0 people keep
        intl = COUNTRY_CODE + intl[len(COUNTRY_CODE) + 1:]
    return intl if 7 <= len(intl) <= 15 else None


def _stars(rest: str) -> str:
    """All but the last 2 digits hidden, in groups of 3 from the right: `*** *56`."""
    hidden = "*" * max(len(rest) - 2, 0) + rest[-2:] if len(rest) > 2 else "*" * len(rest)
    groups: list[str] = []
    while hidden:
        groups.insert(0, hidden[-3:])
        hidden = hidden[:-3]
    return " ".join(groups)


def mask(number: str) -> str:
    """A phone number for logs, the one form every log line uses (DESIGN §2 I7):
    `+383 44 *** *56`: country code, operator prefix (which network, for branch IT) and the
    last 2 digits. Any written form of a number (`044 123 456`, `00383…`) masks the same;
    another country's number keeps its first 3 digits (`+377 ** *** *56`); text that is no
    phone number keeps its shape with all but its last 2 digits hidden."""
    intl = _international_digits(number)
    if intl is None:
        positions = [i for i, c in enumerate(number) if c.isascii() and c.isdigit()]
        visible = set(positions[-2:]) if len(positions) > 2 else set()
        return "".join(
            "*" if (c.isascii() and c.isdigit() and i not in visible) else c
            for i, c in enumerate(number)
        )
    if intl.startswith(COUNTRY_CODE) and _kosovo_nsn_ok(intl[len(COUNTRY_CODE):]):
        nsn = intl[len(COUNTRY_CODE):]
        head_len = 3 if len(nsn) == 9 else 2
        return f"+{COUNTRY_CODE} {nsn[:head_len]} {_stars(nsn[head_len:])}"
    return f"+{intl[:3]} {_stars(intl[3:])}"
