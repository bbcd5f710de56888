"""Masking for log lines: no phone number or account number ever reaches a log whole (I7).

`mask_text` keeps the shape of a line and the last digits of each number (2 of a phone,
4 of an account), so an operator can still tell two numbers apart. A phone number is shown
by `phones.mask` (`+383 44 *** *56`), whoever logs it and however it was written, so one
number always reads the same in the log.
"""

from __future__ import annotations

import re

from appliance.core import phones

__all__ = ["mask_text"]

# Order matters: an IBAN first (letters inside), then dates we leave alone, then numbers.
_PATTERN = re.compile(
    r"""
    (?P<iban>\b[A-Z]{2}[0-9]{2}(?:\ ?[A-Z0-9]{4}){2,7}(?:\ ?[A-Z0-9]{1,4})?\b)
  | (?P<date>(?<![0-9])[12][0-9]{3}-[01][0-9]-[0-3][0-9](?![0-9]))
  | (?P<num>
        (?<![0-9])
        (?:(?:\+|\b00)\ ?)?(?:\(0\)\ ?)?       # international prefix, "(0)" trunk
        \(?[0-9]{2,}\)?                        # first group, maybe in brackets
        (?:[\ \-/]?\(?[0-9]{2,}\)?)*           # more groups after one separator
        (?![0-9])
    )
    """,
    re.VERBOSE | re.ASCII,
)


def _hide(text: str, keep: int) -> str:
    """Every digit (and IBAN letter after the country) but the last `keep` becomes `*`."""
    positions = [i for i, c in enumerate(text) if c.isalnum()]
    visible = set(positions[-keep:]) if keep else set()
    return "".join(
        c if (i in visible or not c.isalnum()) else "*" for i, c in enumerate(text)
    )


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("iban"):
        return text[:2] + _hide(text[2:], 4)
    if match.group("date"):
        return text
    digits = sum(c.isdigit() for c in text)
    if digits < 7:
        return text  # amounts, times, counts: nothing personal
    phone_like = (
        text.startswith(("+", "0", "(", "383", "377", "386", "381")) or 7 <= digits <= 9
    )
    return phones.mask(text) if phone_like else _hide(text, 4)


def mask_text(s: str) -> str:
    """`s` with every phone-like number (E.164, `00…`, national `044 123 456`) and every
    account-like run (IBAN `XK05…`, 8 or more digits) masked but for its last 2–4 digits."""
    return _PATTERN.sub(_replace, s)
