"""Command-line syntax: `AT...` split into commands and arguments, final result codes."""

from __future__ import annotations

import re
from datetime import datetime

from appliance.fakemodem.errors import PlainError

_EXT_NAME = re.compile(r"[+^$%*#][A-Za-z0-9_]*")


def split_commands(body: str) -> list[tuple[str, str]] | None:
    """Split what follows 'AT' into (name, rest) pairs: 'E0+CMGF=0;+CNMI?' ->
    [('E','0'), ('+CMGF','=0'), ('+CNMI','?')]. None when it cannot be parsed."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c in " ;":
            i += 1
            continue
        m = _EXT_NAME.match(body, i)
        if m:
            name = m.group(0).upper()
            j = m.end()
            in_quote = False
            while j < len(body) and (in_quote or body[j] != ";"):
                if body[j] == '"':
                    in_quote = not in_quote
                j += 1
            out.append((name, body[m.end():j].strip()))
            i = j
            continue
        if c == "&" and i + 1 < len(body):
            name, i = "&" + body[i + 1].upper(), i + 2
        elif c.isascii() and c.isalpha():
            name, i = c.upper(), i + 1
        else:
            return None
        j = i
        if name == "S":  # S-register: Sn=v or Sn?
            while j < len(body) and (body[j].isdigit() or body[j] in "=?"):
                j += 1
        else:
            while j < len(body) and body[j].isdigit():
                j += 1
        out.append((name, body[i:j]))
        i = j
    return out


def split_args(text: str) -> list[str]:
    """Comma-separated arguments, quotes removed; an omitted one is ''."""
    args: list[str] = []
    cur: list[str] = []
    in_quote = False
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
        elif ch == "," and not in_quote:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    args.append("".join(cur).strip())
    return args


def int_arg(args: list[str], i: int, allowed: range | tuple[int, ...]) -> int:
    try:
        v = int(args[i])
    except (ValueError, IndexError) as exc:
        raise PlainError() from exc
    if v not in allowed:
        raise PlainError()
    return v


PIN_ARG = re.compile(r'(?i)(\+CPIN=)"?[^";]*"?')
_FINAL = re.compile(rb"(OK|ERROR|\+CM[ES] ERROR: [^\r\n]*)\r\n|\r\n> $")


def final_of(data: bytes) -> str:
    """The final result code in an answer ('> ' for a prompt, '' for none)."""
    found = list(_FINAL.finditer(data))
    if not found:
        return ""
    last = found[-1]
    return last.group(1).decode("latin-1") if last.group(1) else "> "


def text_stamp(moment: datetime) -> str:
    """A text-mode time stamp: yy/MM/dd,hh:mm:ss±zz (zone in quarter hours)."""
    off = moment.utcoffset()
    quarters = int(off.total_seconds() // 900) if off is not None else 0
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{quarters:+03d}"
