"""Segment counting and transliteration over the GSM 7-bit alphabet of `core.gsm0338`.

DESIGN §5: replies go as one 160-septet GSM-7 segment whenever possible, so by default the
Albanian letters GSM-7 lacks (ë, ç, …) are transliterated; `Rules.transliterate = False`
keeps them and sends UCS-2 instead.
"""

from __future__ import annotations

import functools
import unicodedata

from appliance.core.gsm0338 import BASIC, EXTENSION, septet_cost
from appliance.core.rules import Rules

__all__ = [
    "BASIC",
    "EXTENSION",
    "Encoding",
    "encoding_of",
    "is_gsm7",
    "prepare",
    "segment_count",
    "septet_count",
    "split",
    "transliterate",
    "utf16_units",
]

# BASIC and EXTENSION are re-exported: callers have read the table from here since before
# it moved to gsm0338.
_ALL = (frozenset(BASIC) - {"\x1b"}) | frozenset(EXTENSION)

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


class Encoding:
    """Names of the two data codings we send."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 default alphabet or its extension."""
    return all(ch in _ALL for ch in text)


def _septets(ch: str) -> int:
    return septet_cost(ch) or 0  # only called once `is_gsm7` holds


def _utf16_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def septet_count(text: str) -> int:
    """Septets `text` takes in GSM-7 (extension characters count two); ValueError if it can't."""
    if not is_gsm7(text):
        raise ValueError("text is not representable in GSM-7")
    return sum(_septets(ch) for ch in text)


def utf16_units(text: str) -> int:
    """UTF-16 code units (what UCS-2 SMS length is counted in; astral characters take two)."""
    return len(text.encode("utf-16-le")) // 2


def encoding_of(text: str) -> str:
    """`Encoding.GSM7` when the text fits the default alphabet, else `Encoding.UCS2`."""
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def split(text: str, encoding: str | None = None) -> list[str]:
    """The parts `text` is sent as: one when it fits a single segment, else concatenated
    parts of 153 septets (GSM-7) or 67 UTF-16 units (UCS-2), never cutting an escape
    sequence or a surrogate pair. `encoding` (`Encoding.UCS2` for a GSM-7 text sent as
    UCS-2 on purpose) overrides `encoding_of(text)`; the modem's encoder cuts with this."""
    gsm = (encoding or encoding_of(text)) == Encoding.GSM7
    if gsm and not is_gsm7(text):
        raise ValueError("text is not representable in GSM-7")
    size = _septets if gsm else _utf16_cost
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    if sum(size(ch) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for i, ch in enumerate(text):
        cost = size(ch)
        if used + cost > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return parts


def segment_count(text: str) -> int:
    """How many SMS `text` takes: 160/153 septets in GSM-7, 70/67 UTF-16 units in UCS-2."""
    return len(split(text))


# Letters and signs outside GSM-7 that have an obvious close form; the rest of the Latin
# letters lose their accents through Unicode decomposition (ë → e, ç → c, ş → s, …).
_SPECIAL: dict[str, str] = {
    "ç": "c",  # GSM-7 has only the capital Ç; the lower-case one reads fine as c
    "Ç": "C",  # …and some phones draw 0x09 as ç, so keep Albanian text plain
    "ë": "e",
    "Ë": "E",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "‹": "'",
    "›": "'",
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "*",
    "·": ".",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\t": " ",
    "`": "'",
    "Œ": "OE",
    "œ": "oe",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "Þ": "Th",
    "þ": "th",
    "Ð": "D",
    "ð": "d",
    "ĸ": "k",
    "ŉ": "n",
    "Ŋ": "N",
    "ŋ": "n",
    "ſ": "s",
    "ƒ": "f",
    "°": "o",
    "×": "x",
    "÷": "/",
    "¢": "c",
    "©": "(c)",
    "®": "(R)",
    "™": "TM",
    "½": "1/2",
    "¼": "1/4",
    "¾": "3/4",
}


@functools.lru_cache(maxsize=4096)  # alerts call this per character: the sync bench's hot spot
def _close_form(ch: str) -> str | None:
    if ch in _ALL and ch not in _SPECIAL:
        return ch
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    base = "".join(
        c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
    )
    if base and all(c in _ALL for c in base):
        return base
    return None


def transliterate(text: str, fallback: str = "?") -> str:
    """`text` in GSM-7: ë→e, Ë→E, ç→c, other accented letters to their base letter, curly
    quotes and dashes to ASCII; a character with no close form becomes `fallback`."""
    out: list[str] = []
    for ch in text:
        close = _close_form(ch)
        out.append(close if close is not None else fallback)
    return "".join(out)


def prepare(text: str, rules: Rules) -> str:
    """The text to send: as is when GSM-7 already; transliterated when `rules.transliterate`
    and every character has a close GSM-7 form; otherwise unchanged (sent as UCS-2), so a
    name in Cyrillic or an emoji is never replaced by question marks."""
    if not rules.transliterate:
        return text
    lossless = transliterate(text, fallback="\x00")
    if "\x00" in lossless:
        return text
    return lossless
