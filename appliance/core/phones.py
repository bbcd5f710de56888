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


def national(e164: str) -> str:
    """The national form customers know (`044123456`) of a +383 number; others unchanged."""
    nsn = nsn_of(e164)
    return "0" + nsn if nsn else e164


def mask(e164: str) -> str:
    """A number for logs: `+383 44 *** *56` (country code, operator prefix, last 2 digits)."""
    digits = "".join(_DIGITS.findall(e164))
    nsn = nsn_of(e164)
    if nsn is not None:
        head_len = 3 if len(nsn) == 9 else 2
        head, rest = nsn[:head_len], nsn[head_len:]
        lead = f"+{COUNTRY_CODE} {head} "
    elif e164.startswith("+") and len(digits) > 5:
        rest = digits[3:]
        lead = f"+{digits[:3]} "
    else:
        rest = digits
        lead = ""
    if len(rest) <= 2:
        return lead + "*" * len(rest)
    hidden = "*" * (len(rest) - 2) + rest[-2:]
    groups = [hidden[i:i + 3] for i in range(0, len(hidden), 3)]
    return lead + " ".join(groups)
